"""The try-it page in a real browser: headless Chromium (Debian's) driven by Selenium,
against `flask run` and `make offline` on the loopback. One browser for the module."""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait
from support.browser import ARTIFACTS, chromium, console_problems
from support.paths import CHURN_MODEL
from support.servers import LiveServer, Offline

KEY = "page-key-1f2e3d4c5b6a7980"
WRONG_KEY = "wrong-key-0a1b2c3d4e5f6071"
WAIT = 15  # seconds, for anything the page does


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chrome]:
    with chromium(tmp_path_factory.mktemp("chromium") / "chromedriver.log") as driver:
        yield driver


@pytest.fixture(scope="module")
def iris(live_server: Callable[..., LiveServer]) -> str:
    return live_server().url


@pytest.fixture(scope="module")
def churn(live_server: Callable[..., LiveServer]) -> str:
    return live_server(MODEL_URI=CHURN_MODEL).url


@pytest.fixture(scope="module")
def keyed(live_server: Callable[..., LiveServer]) -> str:
    return live_server(API_KEYS=KEY).url


def post(url: str, body: Any, key: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["x-api-key"] = key
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def get(url: str, key: str | None = None) -> Any:
    request = urllib.request.Request(url, headers={"x-api-key": key} if key else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def by_id(browser: Chrome, element_id: str) -> WebElement:
    return browser.find_element(By.ID, element_id)


def until(browser: Chrome, check: Any) -> Any:
    return WebDriverWait(browser, WAIT).until(lambda _: check())


def open_page(browser: Chrome, url: str) -> None:
    browser.get_log("browser")  # start each page with a clean console
    browser.get(url)
    until(
        browser,
        lambda: by_id(browser, "try").is_displayed() or by_id(browser, "key-panel").is_displayed(),
    )


def fields(browser: Chrome) -> dict[str, WebElement]:
    found = browser.find_elements(By.CSS_SELECTOR, "#fields .field")
    return {field.get_attribute("data-feature"): field for field in found}


def control(field: WebElement) -> WebElement:
    # The feature's own input comes first; a nullable one's "leave empty" box after it.
    return field.find_element(By.CSS_SELECTOR, "input, select")


def labelled(browser: Chrome, element: WebElement) -> str:
    return browser.find_element(By.CSS_SELECTOR, f"label[for='{element.get_attribute('id')}']").text


def predict(browser: Chrome) -> None:
    before = request_id(browser)
    by_id(browser, "predict").click()
    until(browser, lambda: request_id(browser) not in (None, before))


def request_id(browser: Chrome) -> str | None:
    # Read in one script: the page may re-render the panel between two WebDriver calls.
    found: str | None = browser.execute_script(
        "const panel = document.getElementById('request');"
        "const fact = panel.querySelector(\"[data-fact='Request id']\");"
        "return panel.hidden || !fact ? null : fact.textContent;"
    )
    return found


def shown_probabilities(browser: Chrome) -> list[tuple[str, str]]:
    bars = browser.find_elements(By.CSS_SELECTOR, "#probabilities .bar")
    return [
        (bar.get_attribute("data-label"), bar.find_element(By.CLASS_NAME, "value").text)
        for bar in bars
    ]


def kinds(browser: Chrome) -> dict[str, str]:
    """Each feature's input, by kind: number, integer, checkbox, select, combo or text."""
    found = {}
    for name, field in fields(browser).items():
        element = control(field)
        if element.tag_name == "select":
            kind = "select"
        elif element.get_attribute("type") == "number":
            kind = "integer" if element.get_attribute("step") == "1" else "number"
        elif element.get_attribute("type") == "checkbox":
            kind = "checkbox"
        else:
            kind = "combo" if element.get_attribute("list") else element.get_attribute("type")
        nullable = bool(field.find_elements(By.CSS_SELECTOR, ".null input[type=checkbox]"))
        found[name] = kind + (", nullable" if nullable else "")
        assert labelled(browser, element).startswith(name)
    return found


def test_iris_page_loads_clean_and_predicts_as_the_api_does(browser: Chrome, iris: str) -> None:
    open_page(browser, iris + "/")
    assert console_problems(browser) == []
    model = get(iris + "/model")
    assert by_id(browser, "title").text == "iris-logistic-regression 1.0.0"
    facts = by_id(browser, "facts").text
    for shown in ("classification", "accuracy 0.9211", "scikit-learn 1.9.1", "setosa, versicolor"):
        assert shown in facts
    assert kinds(browser) == {feature["name"]: "number" for feature in model["features"]}
    example = model["example"][0]
    assert {
        n: float(control(f).get_attribute("value")) for n, f in fields(browser).items()
    } == example

    predict(browser)
    status, expected = post(iris + "/predict", {"features": example, "return_probabilities": True})
    assert status == 200
    assert by_id(browser, "prediction").text == expected["prediction"]
    ranked = sorted(expected["probabilities"].items(), key=lambda item: -item[1])
    assert shown_probabilities(browser) == [(label, f"{p * 100:.1f}%") for label, p in ranked]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id(browser) or "")
    assert re.fullmatch(
        r"\d+\.\d ms",
        by_id(browser, "request-facts")
        .find_element(By.CSS_SELECTOR, "[data-fact='Server time']")
        .text,
    )
    assert console_problems(browser) == []
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "try-it-iris.png"))


def test_a_bad_value_is_shown_beside_its_field(browser: Chrome, iris: str) -> None:
    open_page(browser, iris + "/")
    petal_length = control(fields(browser)["petal_length"])
    petal_length.clear()
    predict(browser)
    problem = fields(browser)["petal_length"].find_element(By.CLASS_NAME, "field-problem")
    assert problem.is_displayed()
    status, expected = post(
        iris + "/predict",
        {"features": {**get(iris + "/model")["example"][0], "petal_length": None}},
    )
    assert status == 422
    (detail,) = expected["error"]["details"]
    assert detail["loc"] == "features.petal_length"
    assert problem.text == detail["msg"]
    assert petal_length.get_attribute("aria-invalid") == "true"
    assert not by_id(browser, "result").is_displayed()
    # Fixed, it predicts again and the problem is gone.
    petal_length.send_keys("1.4")
    predict(browser)
    assert not problem.is_displayed()
    assert by_id(browser, "prediction").text == "setosa"


def test_churn_gets_one_input_of_its_kind_per_feature(browser: Chrome, churn: str) -> None:
    open_page(browser, churn + "/")
    assert console_problems(browser) == []
    assert kinds(browser) == {
        "tenure_months": "integer",
        "monthly_charges": "number",
        "contract": "select",
        "payment_method": "combo, nullable",
        "has_partner": "checkbox",
        "support_calls": "number, nullable",
    }
    model = get(churn + "/model")
    contract = Select(control(fields(browser)["contract"]))
    assert [o.text for o in contract.options] == model["features"][2]["categories"]
    options = browser.find_elements(By.CSS_SELECTOR, "#fields datalist option")
    assert [o.get_attribute("value") for o in options] == model["features"][3]["categories"]

    # A row of every kind, a missing value included, answers as /predict does.
    row = fields(browser)
    control(row["tenure_months"]).clear()
    control(row["tenure_months"]).send_keys("3")
    contract.select_by_visible_text("two-year")
    if not control(row["has_partner"]).is_selected():
        control(row["has_partner"]).click()
    none = row["support_calls"].find_element(By.CSS_SELECTOR, ".null input")
    if not none.is_selected():
        none.click()
    assert not control(row["support_calls"]).is_enabled()
    predict(browser)
    sent = json.loads(re.search(r"-d '(.*)'$", by_id(browser, "curl").text).group(1))
    assert sent["features"]["support_calls"] is None
    assert sent["features"]["has_partner"] is True
    assert sent["features"]["contract"] == "two-year"
    assert sent["features"]["tenure_months"] == 3
    status, expected = post(churn + "/predict", sent)
    assert status == 200
    assert by_id(browser, "prediction").text == expected["prediction"]
    assert {label for label, _ in shown_probabilities(browser)} == {"no", "yes"}

    # An integer that is not one: the server's words, beside the field.
    control(row["tenure_months"]).clear()
    control(row["tenure_months"]).send_keys("34.5")
    predict(browser)
    problem = row["tenure_months"].find_element(By.CLASS_NAME, "field-problem")
    assert problem.text == "expected an integer, got 34.5"
    assert console_problems(browser) == [] or all("422" in m for m in console_problems(browser))


def test_with_keys_on_the_page_asks_for_one(browser: Chrome, keyed: str, tmp_path: Path) -> None:
    open_page(browser, keyed + "/")
    assert by_id(browser, "key-panel").is_displayed()
    assert not by_id(browser, "try").is_displayed()
    key_input = by_id(browser, "api-key")
    assert key_input.get_attribute("type") == "password"
    assert labelled(browser, key_input) == "API key"

    key_input.send_keys(WRONG_KEY, Keys.ENTER)
    until(browser, lambda: by_id(browser, "key-problem").is_displayed())
    assert (
        by_id(browser, "key-problem").text == "The x-api-key header does not hold a valid API key."
    )
    assert not by_id(browser, "try").is_displayed()

    by_id(browser, "api-key").send_keys(KEY, Keys.ENTER)
    until(browser, lambda: by_id(browser, "try").is_displayed())
    assert not by_id(browser, "key-panel").is_displayed()
    predict(browser)
    assert by_id(browser, "prediction").text == "setosa"
    # The key lives in the page's memory alone: not in the URL, storage or cookies.
    assert KEY not in browser.current_url
    stored = browser.execute_script(
        "return JSON.stringify([localStorage, sessionStorage, document.cookie]);"
    )
    assert KEY not in stored
    # Copy as curl names the key as a variable; run as it is, it gives the page's answer.
    command = by_id(browser, "curl").text
    assert '-H "x-api-key: $API_KEY"' in command and KEY not in command
    by_id(browser, "copy-curl").click()
    until(browser, lambda: by_id(browser, "copy-status").text != "")
    answer = subprocess.run(
        ["bash", "-c", command], env={**os.environ, "API_KEY": KEY},
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert json.loads(answer.stdout)["prediction"] == "setosa"
    problems = console_problems(browser)
    # The wrong key's 401 is the one failed request the console may report.
    assert all("401" in message for message in problems), problems


def test_the_batch_tab_predicts_pasted_csv(browser: Chrome, churn: str) -> None:
    open_page(browser, churn + "/")
    tab = by_id(browser, "tab-row")
    tab.send_keys(Keys.ARROW_RIGHT)  # the tabs work from the keyboard
    assert by_id(browser, "tab-batch").get_attribute("aria-selected") == "true"
    assert by_id(browser, "panel-batch").is_displayed()
    assert by_id(browser, "max-rows").text == "1000"
    csv = (
        "tenure_months,monthly_charges,contract,payment_method,has_partner,support_calls\n"
        "3,70.5,month-to-month,electronic-check,false,4\n"
        '60,20.25,two-year,"bank-transfer",TRUE,\n'
        "12,55,one-year,bitcoin,false,1\n"
    )
    box = by_id(browser, "csv")
    box.clear()
    box.send_keys(csv)
    by_id(browser, "predict-batch").click()
    until(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#batch-table tbody tr"))
    shown = [
        c.text for c in browser.find_elements(By.CSS_SELECTOR, "#batch-table .prediction-cell")
    ]
    rows = [
        {"tenure_months": 3, "monthly_charges": 70.5, "contract": "month-to-month",
         "payment_method": "electronic-check", "has_partner": False, "support_calls": 4},
        {"tenure_months": 60, "monthly_charges": 20.25, "contract": "two-year",
         "payment_method": "bank-transfer", "has_partner": True, "support_calls": None},
        {"tenure_months": 12, "monthly_charges": 55, "contract": "one-year",
         "payment_method": "bitcoin", "has_partner": False, "support_calls": 1},
    ]  # fmt: skip
    status, expected = post(churn + "/predict", {"instances": rows})
    assert status == 200
    assert shown == expected["predictions"]

    # Bad cells: each problem in its own cell, nothing predicted.
    box.clear()
    box.send_keys(csv.replace("two-year", "weekly").replace(",4\n", ",four\n"))
    by_id(browser, "predict-batch").click()
    until(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#batch-table td.bad"))
    bad = {
        cell.find_element(By.CLASS_NAME, "cell-problem").text
        for cell in browser.find_elements(By.CSS_SELECTOR, "#batch-table td.bad")
    }
    assert any(text.startswith('unknown category "weekly"') for text in bad)
    assert "expected a number, got a string" in bad
    assert by_id(browser, "batch-problems").text.startswith("The input does not fit the model")

    # More rows than the API takes in one request: refused before anything is sent.
    header = csv.splitlines()[0]
    browser.execute_script(
        "document.getElementById('csv').value = arguments[0];",
        header + "\n" + "3,70.5,month-to-month,x,false,4\n" * 1001,
    )
    by_id(browser, "predict-batch").click()
    until(browser, lambda: "at most 1000" in by_id(browser, "batch-problems").text)


@pytest.fixture(scope="module")
def offline(offline_server: Callable[..., Offline]) -> str:
    return offline_server().http  # http://127.0.0.1:<port>/dev


@pytest.mark.parametrize("slash", ["/", ""], ids=["trailing-slash", "no-trailing-slash"])
def test_under_a_stage_the_page_calls_the_stage(browser: Chrome, offline: str, slash: str) -> None:
    """Through serverless-offline's API Gateway, at /dev/ and at /dev: the page's calls
    go to /dev/model, /dev/predict, not to the host's root."""
    open_page(browser, offline + slash)
    assert by_id(browser, "title").text == "iris-logistic-regression 1.0.0"
    predict(browser)
    assert by_id(browser, "prediction").text == "setosa"
    assert f"'{offline}/predict'" in by_id(browser, "curl").text
    assert console_problems(browser) == []
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name);"
    )
    assert loaded and all(url.startswith(offline + "/") for url in loaded), loaded
    # The stylesheet applied: the page's assets resolved under the stage too.
    color = browser.execute_script(
        "return getComputedStyle(document.getElementById('predict')).backgroundColor;"
    )
    assert color == "rgb(11, 87, 208)"


def test_the_page_makes_no_request_elsewhere(browser: Chrome, iris: str) -> None:
    open_page(browser, iris + "/")
    predict(browser)
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name);"
    )
    assert {url.split("?")[0] for url in loaded} <= {
        f"{iris}/{path}"
        for path in (
            "try-it/page.css",
            "try-it/page.js",
            "try-it/icon.svg",
            "openapi.json",
            "model",
            "predict",
        )
    }

"""The drift report's page (model.drift --html) in headless Chromium: opened from the
file it was written to, it shows the drifted feature first, a chart per feature and
one of the predictions, loads nothing and logs nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import joblib
import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from support.browser import ARTIFACTS, chromium, console_problems
from support.paths import CHURN_MODEL, ROOT
from support.reference_rows import following

from app.core.metadata import ModelMetadata
from model.drift import drift_report, write_html

CHURN_METADATA = ROOT / "model" / "examples" / "churn.json"
ROWS = 5000


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chrome]:
    with chromium(tmp_path_factory.mktemp("chromium") / "chromedriver.log") as driver:
        yield driver


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of churn customers charged 60 more a month than in training."""
    metadata = ModelMetadata.read(CHURN_METADATA)
    rows = following(metadata, ROWS, seed=11)
    rows["monthly_charges"] += 60
    rows["prediction"] = joblib.load(ROOT / CHURN_MODEL).predict(rows)
    path = tmp_path_factory.mktemp("drift") / "drift-report.html"
    write_html(drift_report(metadata, rows), path)
    return path


def test_the_report_shows_the_drifted_feature_first(browser: Chrome, page: Path) -> None:
    browser.get_log("browser")  # a clean console
    browser.get(page.as_uri())
    assert browser.title == "Drift: customer-churn 1.0.0"
    summary = browser.find_elements(By.CSS_SELECTOR, "#summary tbody tr")
    assert len(summary) == 6
    first = summary[0].find_elements(By.TAG_NAME, "td")
    assert first[0].text == "monthly_charges"
    assert first[3].text == "major"
    # The summary links to the feature's chart, on the page.
    link = first[0].find_element(By.TAG_NAME, "a")
    section = browser.find_element(By.ID, link.get_attribute("href").rpartition("#")[2])
    assert section.find_element(By.TAG_NAME, "h2").text == "monthly_charges"
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.bars")
    assert len(charts) == 6 + 1  # each feature, and the predictions
    assert all(chart.size["width"] >= 300 and chart.size["height"] > 150 for chart in charts)
    # The captured bars of the drifted feature: nearly all in its top bin.
    bars = section.find_elements(By.CSS_SELECTOR, "rect.bar.now")
    heights = [float(bar.get_attribute("height")) for bar in bars]
    assert len(heights) == 10 and heights[-1] == max(heights) > 10 * sum(heights[:-1])
    # The page's own style applied: the labels' colours are its CSS.
    label = first[3].find_element(By.CLASS_NAME, "level")
    assert label.value_of_css_property("background-color") == "rgba(255, 216, 211, 1)"
    predictions = browser.find_element(By.ID, "predictions")
    assert "major" in predictions.text
    # Nothing loaded from anywhere, no script, nothing logged.
    assert browser.execute_script("return performance.getEntriesByType('resource').length;") == 0
    assert browser.execute_script("return document.scripts.length;") == 0
    assert console_problems(browser) == []
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "drift-report.png"))

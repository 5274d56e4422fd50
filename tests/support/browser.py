"""Headless Chromium from Debian's packages, driven by Selenium, for the page's tests.

Selenium is handed both executables, so Selenium Manager (which would otherwise look
for, and download, a browser and a driver) never runs; SE_OFFLINE tells it not to
touch the network should anything start it anyway. The browser itself sends every
request for another host to a closed port on the loopback (a proxy that is not
there) and runs without its background services, so a test can only reach the
servers it started on 127.0.0.1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from support.paths import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Screenshots the run writes, for people to look at; ignored by git.
ARTIFACTS = ROOT / "test-artifacts"
# Nothing listens on the discard port: a request for any non-loopback host fails there.
_NOWHERE = "http://127.0.0.1:9"


def options() -> webdriver.ChromeOptions:
    chosen = webdriver.ChromeOptions()
    chosen.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # as root, in a container
        "--disable-dev-shm-usage",
        "--window-size=1200,1400",
        f"--proxy-server={_NOWHERE}",  # loopback stays direct: Chromium's implicit bypass
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-features=Translate,OptimizationHints,MediaRouter",
    ):
        chosen.add_argument(argument)
    # The console's messages, read back by the tests.
    chosen.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return chosen


@contextmanager
def chromium(log: Path) -> Iterator[webdriver.Chrome]:
    os.environ["SE_OFFLINE"] = "true"
    os.environ["SE_AVOID_STATS"] = "true"
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(log))
    driver = webdriver.Chrome(options=options(), service=service)
    try:
        yield driver
    finally:
        driver.quit()


def console_problems(driver: webdriver.Chrome) -> list[str]:
    """The console's warnings and errors since it was last read."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] in ("SEVERE", "WARNING")
    ]

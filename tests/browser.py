"""A real headless Chromium (Debian's chromium + chromedriver, driven by Selenium) and the app served
for it on 127.0.0.1. Without the browser the tests skip, saying what to install; under CI=true they fail."""

from __future__ import annotations

import json
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 30  # seconds: every wait in the browser is bounded


def chromium_or_skip() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if not missing:
        return
    why = f"{' and '.join(missing)} missing: apt-get install -y chromium chromium-driver"
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests need Chromium under CI=true: {why}")
    pytest.skip(why)


def start_chromium():
    """Headless Chromium as root (no sandbox), with its network events kept for requests_made()."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    return driver


@contextmanager
def served(app):
    """The app under werkzeug's threaded server on a free port of 127.0.0.1; answers its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


def requests_made(driver) -> list[str]:
    """Every URL the browser asked for since the last call, from its own network log (DevTools
    Network.requestWillBeSent events: scripts, styles, images, fetches, navigations)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def other_hosts(urls: list[str], base: str) -> list[str]:
    """The URLs that are neither this server's nor made in the page itself (data:, blob:)."""
    origin = urlsplit(base)
    return [
        u
        for u in urls
        if urlsplit(u).scheme not in ("data", "blob")
        and (urlsplit(u).scheme, urlsplit(u).netloc) != (origin.scheme, origin.netloc)
    ]


def console_errors(driver) -> list[str]:
    """The browser console's errors since the last call (a CSP violation or a script error), less its
    notes of answers that were not 2xx (the page handles those)."""
    return [
        e["message"]
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE" and "Failed to load resource: the server responded" not in e["message"]
    ]


def wait_until(predicate, what: str, timeout: float = WAIT):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def downloads_to(driver, folder: Path) -> None:
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)})


def downloaded(folder: Path, name: str) -> str:
    path = folder / name
    wait_until(lambda: path.exists() and path.stat().st_size > 0, f"the download {name}")
    return path.read_bytes().decode("utf-8")  # as written: CSV lines end in \r\n

"""The built documentation, loaded in a real headless browser (Debian's chromium).

Checks the home page, the gallery and an API page: each loads with no
console error (a failed resource, a JavaScript exception), fetches nothing
from outside the site (the docs work offline), and the gallery shows a
loaded thumbnail for every example.  Screenshots are written to
``docs/_build/screenshots/`` (the gallery one shows the thumbnails).

Needs the site built (``make docs``; ``make test`` builds it first) and
chromium + chromedriver (``apt-get install chromium chromium-driver``);
without them the check is skipped with that message.
"""

from __future__ import annotations

import functools
import http.server
import io
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("PYSTREAM_DOCS_HTML", ROOT / "docs" / "_build" / "html"))
SCREENSHOTS = HTML.parent / "screenshots"

PAGES = {
    "index": "index.html",
    "gallery": "auto_examples/index.html",
    "api": "api/generated/pystream.Stream.moving_mean.html",
}


def _browser_binaries() -> tuple[str, str] | None:
    browser = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))
                    if p), None)
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The built site served over HTTP on localhost; yields its base URL."""
    if not (HTML / "index.html").is_file():
        pytest.fail(f"the documentation is not built ({HTML}/index.html is missing): "
                    "run `make docs` (`make test` does it before the test suite)")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    handler = functools.partial(Quiet, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    found = _browser_binaries()
    if found is None:
        pytest.skip("chromium and chromedriver are not installed (Debian: "
                    "`apt-get install chromium chromium-driver`): the headless-browser "
                    "check of the built documentation did not run")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=found[1]), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _load(browser: Any, url: str) -> list[dict[str, Any]]:
    """Open ``url``, wait until it has loaded, return the console log."""
    browser.get_log("browser")                      # drop earlier pages' entries
    browser.get(url)
    browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "if (document.readyState === 'complete') { setTimeout(done, 300); }"
        "else { window.addEventListener('load', () => setTimeout(done, 300)); }")
    return browser.get_log("browser")


def _screenshot(browser: Any, name: str) -> np.ndarray:
    """Save a PNG screenshot and return its pixels."""
    import matplotlib.image

    png = browser.get_screenshot_as_png()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / f"{name}.png").write_bytes(png)
    return matplotlib.image.imread(io.BytesIO(png), format="png")


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_loads_without_console_errors(site, browser, name):
    log = _load(browser, site + PAGES[name])
    errors = [e for e in log if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, f"{PAGES[name]}: console errors: {errors}"
    assert "pystream" in browser.title, browser.title
    assert "404" not in browser.title
    # Offline: every resource the page loaded comes from the site itself.
    origins = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => new URL(e.name).origin);")
    foreign = sorted(set(origins) - {site.rstrip("/")})
    assert not foreign, f"{PAGES[name]} fetched from outside the site: {foreign}"
    pixels = _screenshot(browser, name)
    assert pixels.shape[0] > 500 and pixels.shape[1] > 1000
    assert pixels[..., :3].std() > 0.05, f"{name}: the screenshot is blank"


def test_gallery_shows_a_thumbnail_per_example(site, browser):
    _load(browser, site + PAGES["gallery"])
    thumbs = browser.execute_script(
        "return Array.from(document.querySelectorAll('.sphx-glr-thumbcontainer img'))"
        ".map(i => [i.getAttribute('src'), i.complete, i.naturalWidth]);")
    examples = sorted((ROOT / "docs" / "examples").glob("*/plot_*.py"))
    assert len(thumbs) == len(examples), (len(thumbs), len(examples))
    broken = [src for src, complete, width in thumbs if not complete or width == 0]
    assert not broken, f"thumbnails that did not load: {broken}"
    # Thumbnails are pictures of the examples' plots, not the placeholder.
    plotted = [src for src, _, _ in thumbs if "sphx_glr_plot_" in src]
    assert len(plotted) >= len(examples) * 0.8, f"few examples have a plot thumbnail: {thumbs}"
    # The screenshot: a tall window scrolled to the first row of thumbnails.
    browser.set_window_size(1400, 2200)
    browser.execute_script("document.querySelector('.sphx-glr-thumbnails').scrollIntoView();")
    pixels = _screenshot(browser, "gallery_thumbnails")
    browser.set_window_size(1400, 1000)
    assert pixels[..., :3].std() > 0.05


def test_api_page_lists_its_examples(site, browser):
    _load(browser, site + PAGES["api"])
    heading = browser.execute_script(
        "return Array.from(document.querySelectorAll('h2, h3, p.rubric, div.sphx-glr-thumbnail-title'))"
        ".map(e => e.textContent);")
    assert any("Examples using" in h for h in heading), heading
    links = browser.execute_script(
        "return document.querySelectorAll('.sphx-glr-thumbcontainer a, .sphx-glr-thumbnails a').length;")
    assert links >= 1

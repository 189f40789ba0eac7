"""Opening a page in a real headless Chromium (Debian's package) through Playwright."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@dataclass
class PageCheck:
    """What the browser saw: console errors, page errors, image sizes, element ids, a screenshot."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    section_ids: list[str] = field(default_factory=list)
    screenshot: Path | None = None


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Debian's chromium is needed for the browser tests: apt-get install chromium")
    return path


def open_page(url: str, screenshot: Path) -> PageCheck:
    from playwright.sync_api import sync_playwright

    check = PageCheck(screenshot=screenshot)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.on("console", lambda msg: check.console_errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: check.page_errors.append(str(exc)))
            page.goto(url, wait_until="load")
            check.images = page.eval_on_selector_all(
                "img", "els => els.map(e => ({alt: e.alt, complete: e.complete, width: e.naturalWidth, height: e.naturalHeight}))"
            )
            check.section_ids = page.eval_on_selector_all("section", "els => els.map(e => e.id)")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return check

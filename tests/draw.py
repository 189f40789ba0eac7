"""Drawing on the served page with real mouse moves in headless Chromium."""

from __future__ import annotations

from pathlib import Path

from browser import CHROMIUM_ARGS, chromium_path

# Strokes in canvas fractions (0..1): lists of points, drawn as a person would.
STROKES = {
    "1": [[(0.50, 0.15), (0.50, 0.85)]],
    "7": [[(0.25, 0.20), (0.75, 0.20), (0.45, 0.85)]],
}


def draw_and_read(url: str, digits: list[str], screenshots: Path) -> tuple[list[dict], list[str]]:
    """Draw each digit (clearing in between); return what the page showed, and console errors."""
    from playwright.sync_api import sync_playwright

    results, errors = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 720})
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url)
            page.wait_for_selector("body[data-state=ready]")
            box = page.locator("#pad").bounding_box()
            for digit in digits:
                page.click("#clear")
                for stroke in STROKES[digit]:
                    x0, y0 = stroke[0]
                    page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
                    page.mouse.down()
                    for (xa, ya), (xb, yb) in zip(stroke, stroke[1:]):
                        for step in range(1, 13):
                            t = step / 12
                            page.mouse.move(box["x"] + (xa + t * (xb - xa)) * box["width"], box["y"] + (ya + t * (yb - ya)) * box["height"])
                    page.mouse.up()
                page.wait_for_selector("body[data-state=done]")
                results.append({
                    "answer": page.inner_text("#answer"),
                    "top": page.get_attribute("#answer", "data-top"),
                    "reason": page.inner_text("#reason"),
                    "bars": len(page.query_selector_all(".bar")),
                })
                page.screenshot(path=str(screenshots / f"drawn-{digit}.png"))
        finally:
            browser.close()
    return results, errors

"""What a docs reviewer sees in a report, read by Playwright in Debian's headless Chromium.

Run by tests/reports/test_report_browser.py with the Python of the tool venv .tools/playwright
(``make playwright``): Playwright needs greenlet 3, httpbin in the suite's venv pins
greenlet below 3, so the two cannot share a venv. This script imports nothing of the
suite. It prints one JSON object of findings and leaves the assertions to the test.

    python reviewer.py page-view REPORT.html SCREENSHOT.png
    python reviewer.py allure INDEX.html SCREENSHOT.png SECTION SCENARIO STEP

Every request that is not ``file:``, ``data:`` or ``blob:`` is refused and listed in the
findings under ``outside``: a report must open offline and fetch nothing.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, Route, sync_playwright

# Playwright's own browser download cannot work here: Debian's chromium, by path.
CHROMIUM = os.environ.get("EGRESS_CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 900}
LOCAL = ("file:", "data:", "blob:", "about:")
TIMEOUT_MS = 15_000


def page_view(page: Page, shot: str) -> dict[str, Any]:
    """The page view: its section headings, verdict badges, a failed step's diagnostics
    before and after a click on their summary, then a block entry (block_entry)."""
    details = page.locator("details.diagnostics").first
    found: dict[str, Any] = {
        "title": page.title(),
        "headings": page.locator("h2").all_inner_texts(),
        "verdicts": sorted(set(page.locator(".badge").all_inner_texts())),
        "diagnostics_count": page.locator("details.diagnostics").count(),
        "link_to_page": page.locator("a[href^='https://istio.io/']").count(),
        "page_lines": page.locator(".page-line").count(),
        "widest_px": page.evaluate("document.documentElement.scrollWidth"),
    }
    if found["diagnostics_count"]:
        body = details.locator("h4").first
        found["diagnostics_open_before"] = details.evaluate("d => d.open")
        found["diagnostics_visible_before"] = body.is_visible()
        details.locator("summary").click()
        found["diagnostics_open_after"] = details.evaluate("d => d.open")
        found["diagnostics_visible_after"] = body.is_visible()
        found["diagnostics_text"] = details.inner_text()
        details.scroll_into_view_if_needed()
    page.screenshot(path=shot)
    return {**found, **block_entry(page)}


def block_entry(page: Page) -> dict[str, Any]:
    """The first block entry that shows what the release printed (else the first): its
    page-line link, the page's command and output beside the printed output (their
    boxes on screen), the proposed lines, and the suite's calls folded in it before and
    after a click on their summary."""
    entries = page.locator("article.block")
    printed = page.locator("article.block:has(pre.printed)")
    found: dict[str, Any] = {"blocks": entries.count(), "blocks_printed": printed.count()}
    if not found["blocks"]:
        return found
    entry = printed.first if found["blocks_printed"] else entries.first
    entry.scroll_into_view_if_needed()
    link = entry.locator("h4.block-head .page-line").first
    page_side = entry.locator(".page-side").first
    release_side = entry.locator(".release-side").first
    shown = release_side.locator("pre.printed")
    found["block"] = {
        "visible": entry.is_visible(),
        "page_line": link.inner_text(),
        "page_line_href": link.get_attribute("href"),
        "page_line_visible": link.is_visible(),
        "command": page_side.locator(".command").first.inner_text(),
        "page_output": page_side.locator(".page-output").first.inner_text(),
        "printed": shown.first.inner_text() if shown.count() else None,
        "page_box": page_side.bounding_box(),
        "release_box": release_side.bounding_box(),
        "proposal": entry.locator("pre.patch span").all_inner_texts(),
    }
    calls = entry.locator("details.suite-calls").first
    table = calls.locator("table.calls").first
    found["calls_open_before"] = calls.evaluate("d => d.open")
    found["calls_visible_before"] = table.is_visible()
    calls.locator("summary").first.click()
    found["calls_open_after"] = calls.evaluate("d => d.open")
    found["calls_visible_after"] = table.is_visible()
    found["calls_text"] = table.inner_text()
    return found


def allure(page: Page, shot: str, section: str, scenario: str, step: str) -> dict[str, Any]:
    """Allure's Categories tab, then its Suites tab: the sections under the parent suite,
    the statuses shown, then the failed scenario, its step, and a diagnostics attachment
    opened by clicks."""
    report = page.url.split("#")[0]
    page.goto(report + "#categories")
    categories = page.locator(".tree__content .node__name")
    categories.first.wait_for()
    found_categories = categories.all_inner_texts()
    page.goto(report + "#suites")
    page.get_by_text("Control Egress Traffic", exact=True).first.click()
    names = page.locator(".tree__content .node__name")
    names.nth(1).wait_for()
    found: dict[str, Any] = {
        "title": page.title(),
        "categories": found_categories,
        "sections": names.all_inner_texts()[1:],
        "statuses": sorted(
            {
                label.get_attribute("class").split("label_status_")[-1]
                for label in page.locator(".node__stats .label").all()
            }
        ),
    }
    page.locator(".node__name", has_text=section).first.click()
    page.locator(".node__name", has_text=scenario).first.click()
    result = page.locator(".test-result").first
    result.wait_for()
    found["result_status"] = result.locator(".label").first.inner_text().strip()
    step_name = page.locator(".step__name", has_text=step).first
    rows = page.locator(".attachment-row")
    attachment = rows.filter(has_text="diagnostics:").first
    found["attachments_visible_before"] = attachment.is_visible()
    step_name.click()
    attachment.wait_for(state="visible")
    found["attachments_visible_after"] = attachment.is_visible()
    found["attachments"] = [text.split("\n")[0].strip() for text in rows.all_inner_texts()]
    attachment.click()
    shown = page.locator(".attachment-row_selected + *").first
    shown.wait_for(state="visible")
    found["attachment_opened"] = attachment.inner_text().split("\n")[0].strip()
    found["attachment_text"] = shown.inner_text()
    page.screenshot(path=shot)
    return found


def look(url: str, view: Callable[[Page], dict[str, Any]]) -> dict[str, Any]:
    outside: list[str] = []

    def only_local(route: Route) -> None:
        if route.request.url.startswith(LOCAL):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(TIMEOUT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.route("**/*", only_local)
            page.goto(url)
            found = view(page)
        finally:
            browser.close()
    return {**found, "outside": outside, "script_errors": errors}


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "page-view":
        found = look(argv[1], lambda page: page_view(page, argv[2]))
    elif len(argv) == 6 and argv[0] == "allure":
        found = look(argv[1], lambda page: allure(page, *argv[2:]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(found))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""What the browser tests do on the sandbox page, through its accessible handles only
(CONTRACT.md, "Local sandbox"): open a page on the sandbox, type into the textbox
"Message", open a channel from the navigation "Channels", find the pinned card."""

from __future__ import annotations

import re

import pytest

from tests.browser.chromium import EXPECT_TIMEOUT
from tests.sandbox_process import SandboxProcess

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = playwright_api.expect
Browser = playwright_api.Browser
Page = playwright_api.Page
Locator = playwright_api.Locator

INCIDENT = r"^#inc-\d{8}-\d+-"  # an incident channel's name, before its slug
VIEWPORT = {"width": 1280, "height": 1000}


def open_page(
    browser: Browser, sandbox: SandboxProcess, viewport: dict[str, int] | None = None
) -> Page:
    """A new page (its own context: its own "acting as") on the sandbox, its feed live."""
    page = browser.new_page(viewport=viewport or VIEWPORT)
    expect.set_options(timeout=EXPECT_TIMEOUT)
    page.goto(sandbox.url)
    expect(page.get_by_role("status")).to_have_text("live")  # the feed is connected
    return page


def send(page: Page, text: str) -> None:
    composer = page.get_by_role("textbox", name="Message")
    composer.fill(text)
    composer.press("Enter")
    expect(composer).to_have_value("")  # the page took it


def channel_link(page: Page, name: str) -> Locator:
    """The channel's link: `name` exactly, or a regex when it starts with `^`."""
    exact = re.compile(name) if name.startswith("^") else re.compile(f"^{re.escape(name)}$")
    return page.get_by_role("navigation", name="Channels").get_by_role("link", name=exact)


def open_channel(page: Page, name: str) -> None:
    link = channel_link(page, name)
    expect(link).to_be_visible()
    link.click()
    expect(link).to_have_attribute("aria-current", "page")


def pinned_card(page: Page, title: str) -> Locator:
    return page.get_by_role("article").filter(has_text="Pinned").filter(has_text=title)

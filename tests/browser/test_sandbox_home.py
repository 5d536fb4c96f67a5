"""The sandbox's App Home in a real Chromium: "App Home" opens the bot's Home tab (the bot
hears app_home_opened and publishes it), its *Declare incident* button opens the declare
form, and the incident declared there shows on the tab as the bot re-publishes it."""

from __future__ import annotations

import pytest

from tests.browser.ui import Page, expect

pytestmark = pytest.mark.browser


def test_the_app_home_tab_declares_and_shows_the_incident(page: Page) -> None:
    page.get_by_role("navigation", name="Apps").get_by_role("link", name="App Home").click()
    home = page.get_by_role("region", name="App Home")
    expect(home).to_contain_text("No open incidents")
    expect(home).to_contain_text("On call now")

    home.get_by_role("button", name="Declare incident").click()
    dialog = page.get_by_role("dialog", name="Declare an incident")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Title").fill("Declared from App Home")
    dialog.get_by_label("Severity").select_option("SEV3")
    dialog.get_by_role("button", name="Declare").click()
    expect(dialog).to_be_hidden()

    # the bot re-publishes the tab: the incident, hers, with its channel
    expect(home).to_contain_text("Declared from App Home")
    expect(home).to_contain_text("Yours (1)")
    expect(home).to_contain_text("#inc-")
    expect(home).not_to_contain_text("No open incidents")

    # back to a channel and home again: the tab is still the bot's latest
    page.get_by_role("navigation", name="Channels").get_by_role("link", name="#incidents").click()
    expect(home).to_be_hidden()
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()
    page.get_by_role("navigation", name="Apps").get_by_role("link", name="App Home").click()
    expect(home).to_contain_text("Declared from App Home")

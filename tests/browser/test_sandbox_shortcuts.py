"""The shortcuts and threads in a real Chromium: a message's "More actions" menu declares
an incident from it (the form filled in from the message), "⚡ Shortcuts" opens the
declare form, and the bot's reply in an alert's thread folds under its "1 reply"."""

from __future__ import annotations

import re

import pytest

from tests.browser.ui import INCIDENT, Page, expect, open_channel

pytestmark = pytest.mark.browser


def test_declare_from_a_message_through_its_more_actions_menu(page: Page) -> None:
    open_channel(page, "#general")
    composer = page.get_by_role("textbox", name="Message")
    composer.fill("Checkout returns 500s for EU users")
    composer.press("Enter")
    message = page.get_by_role("article").filter(has_text="Checkout returns 500s for EU users")
    message.hover()
    message.get_by_role("button", name="More actions").click()
    page.get_by_role("menuitem", name="Declare incident").click()

    dialog = page.get_by_role("dialog", name="Declare an incident")
    expect(dialog.get_by_label("Title")).to_have_value("Checkout returns 500s for EU users")
    dialog.get_by_role("button", name="Declare").click()
    expect(dialog).to_be_hidden()
    open_channel(page, INCIDENT + "checkout-returns-500s")
    card = page.get_by_role("article").filter(has_text="Pinned")
    expect(card.get_by_role("link", name="this message")).to_be_visible()


def test_the_shortcuts_menu_opens_the_declare_form(page: Page) -> None:
    page.get_by_role("button", name="⚡ Shortcuts").click()
    page.get_by_role("menuitem", name="Declare incident").click()
    dialog = page.get_by_role("dialog", name="Declare an incident")
    expect(dialog.get_by_label("Title")).to_have_value("")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_the_bots_reply_in_an_alerts_thread_unfolds(page: Page) -> None:
    panel = page.get_by_role("complementary", name="Panels")
    panel.get_by_role("button", name="Fire HighCPU in #alerts").click()
    open_channel(page, "#alerts")
    alert = page.get_by_role("article").filter(has_text="[FIRING:1] HighCPU web")
    toggle = alert.get_by_role("button", name="1 reply")
    expect(toggle).to_be_visible()
    reply = page.get_by_role("article").filter(has_text="Declared as incident")
    expect(reply).to_be_hidden()
    toggle.click()
    expect(reply).to_be_visible()
    expect(reply.get_by_role("link", name=re.compile(r"^#inc-"))).to_be_visible()
    toggle.click()
    expect(reply).to_be_hidden()

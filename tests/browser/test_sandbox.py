"""The sandbox page in a real Chromium, against `python -m bot` started as a newcomer would.

The page is driven only through its accessible handles (CONTRACT.md, "Local sandbox"):
the textbox "Message", the navigation "Channels" with one link a channel, an `article`
a message, buttons by name, dialogs by title. Each test leaves a screenshot in
tests/artifacts/ (git-ignored), also when it fails.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.ui import (
    INCIDENT,
    Browser,
    Page,
    expect,
    open_channel,
    pinned_card,
    playwright_api,
    send,
)
from tests.sandbox_process import SandboxProcess

pytestmark = pytest.mark.browser


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": 1280, "height": 800}


def test_incident_by_text_from_declare_to_resolve(page: Page) -> None:
    open_channel(page, "#incidents")
    send(page, "/incident declare SEV1 Browser test")

    # The bot's new channel appears in the sidebar, live; opening it shows the pinned card.
    open_channel(page, INCIDENT + "browser-test$")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(INCIDENT))
    card = pinned_card(page, "Browser test")
    expect(card).to_be_visible()
    expect(card).to_contain_text("SEV1")
    expect(card).to_contain_text("Investigating")
    card_id = card.get_attribute("id")
    assert card_id, "a message article carries its channel and ts in its id"
    same_card = page.locator(f"article[id='{card_id}']")

    # chat.update changes the card in place: the same article, new content.
    send(page, "/incident status identified")
    expect(same_card).to_contain_text("Identified")
    expect(same_card).not_to_contain_text("Investigating")
    expect(pinned_card(page, "Browser test")).to_have_count(1)

    send(page, "/incident resolve All good")
    expect(same_card).to_contain_text("Resolved")
    expect(same_card).to_contain_text("All good")
    expect(pinned_card(page, "Browser test")).to_have_count(1)


def test_declare_through_the_modal(page: Page) -> None:
    open_channel(page, "#incidents")
    send(page, "/incident declare")

    dialog = page.get_by_role("dialog", name="Declare an incident")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Title").fill("Payments slow in EU")
    dialog.get_by_label("Severity").select_option("SEV2")
    dialog.get_by_label("Description").fill("p99 above 4 s since 14:05")
    dialog.get_by_role("button", name="Declare").click()
    expect(dialog).to_be_hidden()

    open_channel(page, INCIDENT + "payments-slow-in-eu$")
    card = pinned_card(page, "Payments slow in EU")
    expect(card).to_contain_text("SEV2")
    expect(card).to_contain_text("p99 above 4 s since 14:05")


def test_pushpin_a_message_onto_the_timeline_and_draft_the_post_mortem(page: Page) -> None:
    # the sandbox is shared by this module: close a form an earlier test left open
    for dialog in page.get_by_role("dialog").all():
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
    open_channel(page, "#incidents")
    send(page, "/incident declare SEV3 Pin test")
    open_channel(page, INCIDENT + "pin-test$")
    send(page, "Cache hit rate fell to 20% at 14:05")

    said = page.get_by_role("article").filter(has_text="Cache hit rate fell to 20%")
    said.hover()
    said.get_by_role("button", name="React with pushpin").click()
    expect(said).to_contain_text("📌 1")
    confirm = page.get_by_role("article").filter(has_text="Added to the incident's timeline")
    expect(confirm).to_be_visible()

    send(page, "/incident postmortem")
    expect(page.get_by_role("link", name=re.compile("Post-mortem draft"))).to_be_visible()
    expect(page.get_by_role("button", name="Regenerate draft")).to_be_visible()


def test_text_typed_before_the_feed_connects_is_sent_once_it_does(
    browser: Browser, sandbox: SandboxProcess, viewport: dict[str, int]
) -> None:
    page = browser.new_page(viewport=viewport)
    held: list[playwright_api.WebSocketRoute] = []

    def feed(ws: playwright_api.WebSocketRoute) -> None:
        if held:
            ws.connect_to_server()  # the page's reconnect goes through
        else:
            held.append(ws)  # the first connection hangs: no snapshot comes

    page.route_web_socket(re.compile(r"/sandbox/ws$"), feed)
    try:
        page.goto(sandbox.url)
        status = page.get_by_role("status")
        expect(status).to_have_text("connecting…")
        send(page, "/incident declare SEV3 Typed while connecting")
        expect(status).to_have_text("connecting… (1 to send)")
        held[0].close()  # the page reconnects, gets its snapshot, sends what it kept
        expect(status).to_have_text("live")
        open_channel(page, INCIDENT + "typed-while-connecting$")
        expect(pinned_card(page, "Typed while connecting")).to_be_visible()
    finally:
        page.close()

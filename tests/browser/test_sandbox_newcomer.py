"""What a newcomer expects of the sandbox page because Slack does it, in a real Chromium:
the view follows the newest message (or says "New messages ↓"), a direct message says
it is one, the header's "📌 Pinned" reaches the pinned card, and a success is not shown
as an error. Driven through accessible handles as tests/browser/test_sandbox.py is.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.ui import INCIDENT, Browser, Locator, Page, expect, open_channel, open_page, send
from tests.sandbox_process import SandboxProcess

pytestmark = pytest.mark.browser
# short, so a dozen messages overflow the message list
VIEWPORT = {"width": 1280, "height": 520}


@pytest.fixture
def viewport() -> dict[str, int]:
    return VIEWPORT


def said(page: Page, text: str) -> Locator:
    return page.get_by_role("article").filter(has_text=text)


def fill_channel(page: Page, tag: str, count: int = 12) -> None:
    """Enough messages that the first ones scroll out of sight."""
    for n in range(count):
        send(page, f"{tag} {n}")
    expect(said(page, f"{tag} {count - 1}")).to_be_in_viewport()


def scroll_to_top(page: Page) -> None:
    page.locator("#messages").evaluate("box => { box.scrollTop = 0; }")


def test_the_view_follows_new_messages_or_says_there_are_some(
    page: Page, browser: Browser, sandbox: SandboxProcess
) -> None:
    open_channel(page, "#general")
    fill_channel(page, "Filler")
    marker = page.get_by_role("button", name="New messages ↓")
    expect(marker).to_be_hidden()

    other = open_page(browser, sandbox, VIEWPORT)  # someone else in the channel
    try:
        open_channel(other, "#general")
        # scrolled up: a new message leaves the view where it is and says so
        scroll_to_top(page)
        expect(said(page, "Filler 0")).to_be_in_viewport()
        send(other, "While you were reading")
        arrived = said(page, "While you were reading")
        expect(marker).to_be_visible()
        expect(arrived).not_to_be_in_viewport()
        expect(said(page, "Filler 0")).to_be_in_viewport()
        marker.click()
        expect(arrived).to_be_in_viewport()
        expect(marker).to_be_hidden()

        # at the bottom: the view stays there, no marker
        send(other, "And one more")
        expect(said(page, "And one more")).to_be_in_viewport()
        expect(marker).to_be_hidden()
    finally:
        other.close()

    # sending from scrolled up goes to the bottom, where what you sent shows
    scroll_to_top(page)
    expect(said(page, "Filler 0")).to_be_in_viewport()
    send(page, "My own line")
    expect(said(page, "My own line")).to_be_in_viewport()
    expect(marker).to_be_hidden()


def test_a_direct_message_says_it_is_one(page: Page) -> None:
    open_channel(page, "#incidents")
    send(page, "/incident declare SEV3 Direct message test")
    open_channel(page, INCIDENT + "direct-message-test$")
    # a follow-up due in a second: its reminder is the bot's DM to the owner
    send(page, "/incident followup Check the canary @alice in 1s")

    dms = page.get_by_role("navigation", name="Channels")
    expect(dms.get_by_role("heading", name="Direct messages")).to_be_visible()
    open_channel(page, "Direct message with incident-bot")
    expect(page.get_by_role("heading", level=1)).to_have_text("@incident-bot")
    head = page.locator("main > header")  # the open channel's own, not a message's
    expect(head).to_contain_text("Direct message with incident-bot")
    expect(said(page, "Check the canary")).to_be_visible()
    # a channel is not labelled so
    open_channel(page, "#general")
    expect(head).not_to_contain_text("Direct message")


def test_the_pinned_view_reaches_the_card(page: Page) -> None:
    open_channel(page, "#incidents")
    send(page, "/incident declare SEV3 Pinned view test")
    open_channel(page, INCIDENT + "pinned-view-test$")
    card = said(page, "Pinned view test").filter(has_text="📌 Pinned")
    expect(card).to_be_visible()
    fill_channel(page, "Chatter")
    expect(card).not_to_be_in_viewport()

    pins = page.get_by_role("button", name=re.compile(r"^📌 Pinned"))
    expect(pins).to_have_text(re.compile(r"📌 Pinned \d+"))
    pins.click()
    listed = page.get_by_role("region", name="Pinned messages")
    expect(listed).to_be_visible()
    listed.get_by_role("button", name=re.compile("Pinned view test")).click()
    expect(listed).to_be_hidden()
    expect(card).to_be_in_viewport()
    expect(card).to_have_class(re.compile(r"\bmsg-highlight\b"))

    # a channel with nothing pinned says so
    open_channel(page, "#general")
    expect(pins).to_have_text("📌 Pinned")
    pins.click()
    expect(listed).to_contain_text("Nothing is pinned in this channel.")
    page.keyboard.press("Escape")
    expect(listed).to_be_hidden()


def background(locator: Locator) -> str:
    return str(locator.evaluate("el => getComputedStyle(el).backgroundColor"))


def test_a_success_is_not_styled_as_an_error(page: Page) -> None:
    notice = page.locator("#notice")
    open_channel(page, "#incidents")
    send(page, "/no-such-command")
    expect(page.get_by_role("alert")).to_contain_text("HTTP 404")
    expect(notice).to_have_attribute("data-tone", "error")
    error_colour = background(notice)

    panel = page.get_by_role("complementary", name="Panels")
    panel.get_by_role("button", name="Fire HighCPU in #alerts").click()
    expect(notice).to_contain_text("The Alertmanager app posted HighCPU")
    expect(notice).to_have_attribute("data-tone", "ok")
    expect(notice).not_to_have_attribute("role", "alert")
    assert background(notice) != error_colour

    # answers: the declarer's confirmation is no alarm (no SEV1 bar), a refusal is an error
    send(page, "/incident declare SEV1 Tone test")
    declared = said(page, "Only visible to you").filter(has_text=re.compile("Declared .*Tone test"))
    expect(declared).to_be_visible()
    expect(declared).not_to_have_class(re.compile(r"\bmsg-(sev-1|error)\b"))
    send(page, "/incident severity SEV2")
    refused = said(page, "Only visible to you").filter(has_text="⚠️")
    expect(refused).to_be_visible()
    expect(refused).to_have_class(re.compile(r"\bmsg-error\b"))
    assert background(refused) != background(declared)

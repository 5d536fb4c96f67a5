"""The sandbox's Alerts panel in a real Chromium: Fire sends a Prometheus alert to the
bot's own Alertmanager route, the incident's channel appears with the alert, Resolve
moves it to monitoring, and the Resolve incident button closes it."""

from __future__ import annotations

import pytest

from tests.browser.ui import INCIDENT, Page, channel_link, expect, open_channel

pytestmark = pytest.mark.browser


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": 1400, "height": 900}


def test_fire_and_resolve_a_demo_alert_from_the_panel(page: Page) -> None:
    panel = page.get_by_role("complementary", name="Panels")
    expect(panel).to_contain_text("Alerts (Prometheus)")
    panel.get_by_role("button", name="Fire ServiceDown").click()
    expect(page.locator("#notice")).to_contain_text("HTTP 200")

    open_channel(page, r"^#inc-\d{8}-\d+-servicedown-checkout")
    alert = page.get_by_role("article").filter(has_text="ServiceDown checkout: firing")
    expect(alert).to_contain_text("checkout is down")
    expect(alert).to_contain_text("service=checkout")
    expect(page.get_by_role("article").filter(has_text="Pinned")).to_contain_text("SEV1")
    alert_id = alert.get_attribute("id")
    assert alert_id

    panel.get_by_role("button", name="Resolve ServiceDown").click()
    notice = page.get_by_role("article").filter(has_text="have resolved")
    expect(notice).to_contain_text("monitoring")
    # the alert's own message says so at once (only count changes wait for the next edit)
    expect(page.locator(f"article[id='{alert_id}']")).to_contain_text(
        "ServiceDown checkout: resolved"
    )
    notice_id = notice.get_attribute("id")
    assert notice_id
    # an alert declares with nobody in command: the refusal offers to take command first
    notice.get_by_role("button", name="Resolve incident").click()
    refusal = page.get_by_role("article").filter(has_text="take command first")
    refusal.get_by_role("button", name="Take command").click()
    expect(page.get_by_role("article").filter(has_text="@alice made @alice the")).to_be_visible()
    notice.get_by_role("button", name="Resolve incident").click()
    # the button's message is replaced in place: same article, new text, no button
    same = page.locator(f"article[id='{notice_id}']")
    expect(same).to_contain_text("resolved the incident")
    expect(same.get_by_role("button", name="Resolve incident")).to_have_count(0)
    expect(page.get_by_role("article").filter(has_text="Pinned")).to_contain_text("Resolved")


def test_the_alertmanager_app_posts_in_alerts_and_the_bot_reads_it(page: Page) -> None:
    panel = page.get_by_role("complementary", name="Panels")
    panel.get_by_role("button", name="Fire HighCPU in #alerts").click()
    expect(page.locator("#notice")).to_contain_text("The Alertmanager app posted HighCPU")
    open_channel(page, "#alerts")
    posted = page.get_by_role("article").filter(has_text="[FIRING:1] HighCPU web")
    expect(posted).to_contain_text("Alertmanager")
    expect(posted).to_contain_text("APP")
    expect(channel_link(page, INCIDENT + "highcpu-web")).to_be_visible()

"""A newcomer's game day in the sandbox, in a real Chromium: `/incident drill latency-spike
fast`, acknowledge the stand-in page, watch the script play, resolve, read the report.
Leaves a screenshot in tests/artifacts/."""

from __future__ import annotations

import pytest

from tests.browser.ui import Page, expect, open_channel, send

pytestmark = pytest.mark.browser


def test_a_fast_drill_from_start_to_report(page: Page) -> None:
    send(page, "/incident drill latency-spike fast")
    open_channel(page, r"^#drill-\d{8}-\d+-latency-spike-on-search$")
    notice = page.get_by_role("article").filter(has_text="Drill: no real page sent")
    expect(notice).to_be_visible()
    expect(page.get_by_role("article").filter(has_text="[DRILL]").first).to_be_visible()
    notice.get_by_role("button", name="Acknowledge page").click()
    expect(
        page.get_by_role("article").filter(has_text="acknowledged the drill page")
    ).to_be_visible()
    # the script, ×10: the alert at 1 s, the support message at 4 s
    expect(page.get_by_role("article").filter(has_text="HighLatency").first).to_be_visible()
    expect(
        page.get_by_role("article").filter(has_text="customers report slow searches")
    ).to_be_visible()
    send(page, "/incident update Search is slow because of the text-analysis dependency")
    # nobody commands a drill at first: the refusal offers to take command
    send(page, "/incident resolve Rolled back the dependency")
    refusal = page.get_by_role("article").filter(has_text="take command first")
    refusal.get_by_role("button", name="Take command").click()
    expect(page.get_by_role("article").filter(has_text="@alice made @alice the")).to_be_visible()
    send(page, "/incident resolve Rolled back the dependency")
    report = page.get_by_role("article").filter(has_text="Drill report")
    expect(report).to_be_visible()
    expect(report).to_contain_text("Acknowledge")
    expect(report).to_contain_text("drill page acknowledged")
    expect(report).to_contain_text("First update")
    report.scroll_into_view_if_needed()

"""A runbook checklist in the sandbox, in a real Chromium, only through clicks: tick a step,
take one from its ⋯ menu, see a finished phase collapse, open Show steps and undo there.
Leaves a screenshot in tests/artifacts/."""

from __future__ import annotations

import re

import pytest

from tests.browser.ui import INCIDENT, Locator, Page, expect, open_channel, send

pytestmark = pytest.mark.browser


def box(checklist: Locator, text: str) -> Locator:
    return checklist.get_by_role("checkbox", name=re.compile(re.escape(text)))


def test_tick_take_collapse_and_undo_a_checklist_by_clicks(page: Page) -> None:
    open_channel(page, "^#incidents$")
    send(page, "/incident declare SEV2 Checklist in the browser")
    open_channel(page, INCIDENT + "checklist-in-the-browser$")
    send(page, "/incident runbook service-down")
    checklist = page.get_by_role("article").filter(has_text="Runbook: Service down")
    expect(checklist).to_contain_text("0 of 21 done")

    # tick step 1: the box stays ticked, and says who did it
    first = box(checklist, "Health check failing")
    first.check()
    expect(checklist).to_contain_text("1 of 21 done")
    expect(first).to_be_checked()
    expect(checklist).to_contain_text("done by @")

    # take step 3 from its ⋯ menu
    menu = checklist.locator("select", has=page.locator("option", has_text="I'm on it (step 3)"))
    menu.select_option(label="🙋 I'm on it (step 3)")
    expect(checklist).to_contain_text("is on it")
    expect(menu).to_have_value("")  # the menu shows ⋯ again

    # the last box of the first phase: the phase collapses to one line
    box(checklist, "Users report the service unreachable").check()
    expect(checklist).to_contain_text("✅ Symptoms — 2/2 done")
    expect(box(checklist, "Health check failing")).to_have_count(0)

    # Show steps tells who did what, and its Undo reopens the step for everyone
    checklist.get_by_role("button", name="Show steps").first.click()
    steps = page.get_by_role("article").filter(has_text="Service down · Symptoms")
    expect(steps).to_contain_text("Done by @")
    steps.get_by_role("button", name="Undo").first.click()
    expect(checklist).to_contain_text("Symptoms · 1/2")
    expect(box(checklist, "Health check failing")).not_to_be_checked()

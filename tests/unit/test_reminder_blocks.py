"""Reminder and paging messages: what they say, and that Slack would accept them."""

from __future__ import annotations

import pytest

import blocks.paging as paging
import blocks.reminders as ui
from blocks.limits import check_blocks, check_view
from bot.core.durations import format_duration
from bot.core.models import Incident, PageState, StatusUpdate

LONG = "x<&>" * 2000


def incident(**kw: object) -> Incident:
    base = dict(
        id="20261122-3",
        title="Checkout API returning 500s",
        severity="SEV1",
        declared_by="U0ALICE",
        declared_at=1_795_000_000.0,
        roles={"commander": "U0ALICE"},
        channel_id="C0INC",
    )
    base.update(kw)
    return Incident.model_validate(base)


def page(**kw: object) -> PageState:
    base = dict(
        status="triggered",
        incident_key="incident-bot-20261122-3",
        requested_at=1_795_000_000.0,
        pd_incident_id="PINC0001",
        pd_number=1,
        html_url="https://fake.pagerduty.com/incidents/PINC0001",
        service="Backend API",
        level=2,
        oncall=["<@U0DAVE>"],
    )
    base.update(kw)
    return PageState.model_validate(base)


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (2, "2 s"),
        (60, "1 min"),
        (900, "15 min"),
        (7200, "2 h"),
        (5400, "1 h 30 min"),
        (86400, "1 d"),
    ],
)
def test_human_duration(seconds: float, said: str) -> None:
    assert format_duration(seconds) == said


def test_reminder_mentions_the_commander_and_offers_update_and_snooze() -> None:
    text, blocks = ui.update_reminder(incident(), every=900, snooze=600)
    assert text.startswith("<@U0ALICE> An update on this SEV1 incident is due")
    assert "every 15 min" in text and "none yet since it was declared" in text
    buttons = [(e["text"]["text"], e["action_id"], e["value"]) for e in blocks[1]["elements"]]
    assert buttons == [
        ("Post update", ui.ACTION_POST_UPDATE, "20261122-3"),
        ("Snooze 10 min", ui.ACTION_SNOOZE, "20261122-3"),
    ]
    assert check_blocks(blocks) == []


def test_reminder_without_a_commander_asks_whoever_is_here() -> None:
    last = StatusUpdate(
        at=1_795_000_100.0, by="U0BOB", text="x", status="identified", severity="SEV1"
    )
    text, _ = ui.update_reminder(incident(roles={}, last_update=last), every=900, snooze=600)
    assert text.startswith("<!here>") and "the last one was <!date^1795000100^" in text


def test_overdue_pings_the_channel_and_the_lead() -> None:
    text, blocks = ui.update_overdue(incident(), overdue_for=450, leads={"comms_lead": "U0CAROL"})
    assert text.startswith("<!channel> No update on 20261122-3 for 7 min 30 s past its due time")
    assert "<@U0CAROL> (comms lead), please post one" in text
    assert check_blocks(blocks) == []


def test_update_modal_and_its_text() -> None:
    view = ui.update_modal(incident(title=LONG[:150], status="identified"), private_metadata="{}")
    assert check_view(view) == []
    ids = [b.get("block_id") for b in view["blocks"]]  # type: ignore[attr-defined]
    assert ids == [None, "status", "impact", "actions", "next", "eta"]
    status = view["blocks"][1]["element"]  # type: ignore[index]
    assert status["initial_option"]["value"] == "identified"
    text = ui.update_text(
        {
            "status": "identified",
            "impact": "EU checkout fails",
            "actions": "Rolling back",
            "next": None,
            "eta": " 15:30\n UTC ",
        }
    )
    assert text == "*Impact:* EU checkout fails\n*Current actions:* Rolling back\n*ETA:* 15:30 UTC"
    assert ui.update_text({"impact": "  ", "actions": None}) == ""


@pytest.mark.parametrize(
    "message",
    [
        paging.paging_off("PagerDuty is not configured (set PAGERDUTY_API_KEY)."),
        paging.paged(page(level=1, oncall=["<@U0BOB>"])),
        paging.escalated(page(), waited=900, by=None),
        paging.escalated(page(), waited=900, by="U0ALICE"),
        paging.escalated_in_pagerduty(page()),
        paging.last_level(page(level=3), waited=900, by=None),
        paging.acknowledged(page(acked_by="Bob Example")),
        paging.resolved_in_pagerduty(page(), "Bob Example"),
        paging.paging_failing("HTTP 500", 3),
        paging.paging_failed(LONG),
    ],
)
def test_paging_messages_are_valid(message: tuple[str, list[dict[str, object]]]) -> None:
    assert check_blocks(message[1]) == []


def test_paging_messages_say_who() -> None:
    assert paging.paged(page(level=1, oncall=["<@U0BOB>"]))[0] == (
        ":rotating_light: Paged Backend API on-call: <@U0BOB>"
    )
    assert paging.escalated(page(), waited=900, by=None)[0] == (
        ":arrow_double_up: No acknowledgement in 15 min: escalated to level 2, <@U0DAVE>"
    )
    _, blocks = paging.paged(page())
    assert "<https://fake.pagerduty.com/incidents/PINC0001|PagerDuty #1> · level 2" in str(blocks)

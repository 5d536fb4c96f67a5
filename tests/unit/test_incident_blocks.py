from __future__ import annotations

import pytest

import blocks.incident as ui
from blocks.limits import check_blocks, check_view
from blocks.mrkdwn import md, user
from bot.core.config import IncidentConfig
from bot.core.models import Incident, StatusUpdate, TimelineEntry

CONFIG = IncidentConfig()


def incident(**kw: object) -> Incident:
    base = dict(
        id="20261122-3",
        title="Checkout API returning 500s",
        severity="SEV1",
        declared_by="U0ALICE",
        declared_at=1_795_000_000.0,
        roles={"commander": "U0ALICE"},
        channel_id="C0INC",
        channel_name="inc-20261122-3-checkout",
        card_ts="1.1",
    )
    base.update(kw)
    return Incident.model_validate(base)


LONG = "x<&>" * 2000


@pytest.mark.parametrize(
    "inc",
    [
        incident(),
        incident(
            title=LONG[:150],
            description=LONG,
            resolution=LONG,
            status="resolved",
            resolved_at=1_795_003_600.0,
            last_update=StatusUpdate(
                at=1.0, by="U0BOB", text=LONG, status="identified", severity="SEV1"
            ),
        ),
        incident(
            roles={"commander": "U0A", "tech_lead": "U0B", "comms_lead": "U0C"}, severity="SEV4"
        ),
    ],
)
def test_every_builder_stays_within_slack_limits(inc: Incident) -> None:
    update = StatusUpdate(
        at=2.0, by="U0BOB", text=LONG, status=inc.status, severity=inc.severity, next_due=3.0
    )
    entries = [
        TimelineEntry(at=float(i), actor="U0A", kind="note", text=LONG[:500]) for i in range(400)
    ]
    for _, blocks in (
        ui.summary_card(inc, CONFIG),
        ui.announcement(inc, CONFIG),
        ui.status_update(inc, update, CONFIG),
        ui.timeline(inc, entries),
        ui.incident_list([inc] * 60, CONFIG),
        ui.help_message(["/incident help"]),
        ui.usage_error("bad", "/incident help"),
        ui.setup_failure(inc.model_copy(update={"setup_errors": {"pin": "x"}})),
    ):
        assert check_blocks(blocks) == []
    assert (
        check_view(ui.declare_modal(CONFIG, runbooks=[(f"id{i}", LONG[:200]) for i in range(150)]))
        == []
    )
    assert check_view(ui.resolve_modal(inc, private_metadata="{}")) == []


def _controls(inc: Incident) -> list[str]:
    _, blocks = ui.summary_card(inc, CONFIG)
    found = [b for b in blocks if b.get("block_id") == ui.CONTROLS_BLOCK]
    return [e["action_id"] for b in found for e in b["elements"]]


def test_the_cards_controls_follow_its_state() -> None:
    commanded = [ui.ACTION_POST_UPDATE, ui.ACTION_SEVERITY, ui.ACTION_RESOLVE]
    assert _controls(incident()) == commanded
    assert _controls(incident(roles={})) == [ui.ACTION_TAKE_COMMAND, *commanded]
    assert _controls(incident(status="resolved", resolved_at=1_795_003_600.0)) == []
    # the select shows the severity the incident has; each option names its incident
    [first, _] = ui.card_controls(incident(severity="SEV3"), CONFIG)
    [picker] = [e for e in first["elements"] if e["type"] == "static_select"]
    assert picker["initial_option"]["value"] == "20261122-3|SEV3"
    assert ui.parse_severity_value(picker["options"][0]["value"]) == ("20261122-3", "SEV1")


def test_card_shows_every_fact() -> None:
    inc = incident(
        roles={"commander": "U0ALICE", "tech_lead": "U0BOB"}, description="Users see <b>errors</b>"
    )
    text, blocks = ui.summary_card(inc, CONFIG)
    flat = str(blocks)
    assert "20261122-3 · Checkout API returning 500s" in flat
    assert "SEV1 · Critical" in flat and "Investigating" in flat
    assert "<@U0ALICE>" in flat and "<@U0BOB>" in flat and "*Comms Lead*\\n_unassigned_" in flat
    assert "<!date^1795000000^" in flat
    assert "&lt;b&gt;errors&lt;/b&gt;" in flat  # user text never becomes markup
    assert text.startswith("SEV1 ")


def test_topic_reads_severity_status_commander() -> None:
    assert ui.topic(incident(), CONFIG) == "SEV1 Critical · Investigating · Commander <@U0ALICE>"


def test_announcement_says_resolved() -> None:
    _, blocks = ui.announcement(incident(status="resolved", resolved_at=1_795_003_900.0), CONFIG)
    assert "Resolved" in str(blocks) and "1 h 5 min" in str(blocks)


def test_check_blocks_catches_violations() -> None:
    too_many = [{"type": "divider"}] * 51
    assert check_blocks(too_many) == [
        "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"
    ]
    button = {"type": "button", "text": {"type": "plain_text", "text": "x" * 76}, "action_id": "a"}
    problems = check_blocks([{"type": "actions", "elements": [button, dict(button)]}])
    assert (
        "[ERROR] must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]"
        in problems
    )
    assert any("duplicate action_id: a" in p for p in problems)
    assert check_blocks([{"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}}])


def test_timeline_keeps_mentions_but_escapes_typed_markup() -> None:
    entries = [
        TimelineEntry(at=1.0, actor="U0A", kind="role", text=md("Comms Lead: {}", user("U0CAROL"))),
        TimelineEntry(
            at=2.0, actor="U0A", kind="update", text="Status update: 5xx <b>high</b> & rising"
        ),
    ]
    _, blocks = ui.timeline(incident(), entries)
    flat = str(blocks)
    assert "Comms Lead: <@U0CAROL>" in flat
    assert "5xx &lt;b&gt;high&lt;/b&gt; &amp; rising" in flat

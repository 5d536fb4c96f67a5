"""The App Home's view (blocks/home.py): the viewer's incidents first, private ones as the
redaction policy shows them, on call or why not, and within a Home tab's 100 blocks."""

from __future__ import annotations

import json
from typing import Any

import blocks.home as ui
from blocks.limits import MODAL_BLOCK_LIMIT, view_problems
from bot.core import redaction
from bot.core.config import IncidentConfig
from bot.core.models import Incident
from bot.oncall import NOT_CONFIGURED
from tests.unit.test_oncall import answer

CONFIG = IncidentConfig()
ALICE, BOB = "U0ALICE", "U0BOB"


def incident(number: int, **kw: Any) -> Incident:
    base: dict[str, Any] = {
        "id": f"20261122-{number}",
        "title": f"Incident number {number}",
        "severity": "SEV3",
        "declared_by": BOB,
        "declared_at": 1_795_000_000.0 + number,
        "roles": {"commander": BOB},
        "channel_id": f"C0INC{number}",
        "channel_name": f"inc-20261122-{number}",
    }
    return Incident.model_validate({**base, **kw})


def texts(view: dict[str, Any]) -> list[str]:
    """Each block as the text it shows (a section's, a header's, a context's)."""
    out = []
    for block in view["blocks"]:
        if "text" in block:
            out.append(block["text"]["text"])
        elif block["type"] == "context":
            out.append(" ".join(e["text"] for e in block["elements"]))
        else:
            out.append(block["type"])
    return out


def rows(view: dict[str, Any]) -> list[str]:
    """The incident rows: the sections naming an incident id."""
    return [t for t in texts(view) if "20261122-" in t]


def test_the_viewers_incidents_come_first_worst_first() -> None:
    others = [incident(1), incident(2, severity="SEV1")]
    mine = [
        incident(3, roles={"commander": BOB, "tech_lead": ALICE}),
        incident(4, roles={"commander": ALICE}, severity="SEV2"),
    ]
    view = ui.home_view([*others, *mine], ALICE, CONFIG, answer())
    assert view_problems(view, kinds=("home",)) == []
    order = [next(i.id for i in [*others, *mine] if i.id in row) for row in rows(view)]
    assert order == ["20261122-4", "20261122-3", "20261122-2", "20261122-1"]
    shown = texts(view)
    assert shown.index("Yours (2)") < shown.index("Other open incidents (2)")
    assert "_You: Tech Lead_" in rows(view)[1]
    assert shown[1] == "*4 open incidents* · you hold a role in 2"


def test_a_row_shows_severity_status_commander_age_and_the_channel() -> None:
    view = ui.home_view([incident(1, severity="SEV1")], ALICE, CONFIG, answer())
    [row] = rows(view)
    assert "SEV1" in row and "Investigating" in row and "<@U0BOB>" in row
    assert "^{ago}|" in row  # the age, as each reader's Slack counts it
    assert "<#C0INC1>" in row


def test_a_private_incident_is_the_redacted_row_for_outsiders() -> None:
    secret = incident(1, title="Leaked AWS keys", private=True, runbook="leaked-credentials")
    outside = redaction.for_reader(secret, CONFIG, member=False)
    view = ui.home_view([outside], ALICE, CONFIG, answer())
    dumped = json.dumps(view)
    assert "Leaked" not in dumped and "leaked-credentials" not in dumped
    assert "Private incident" in dumped
    inside = ui.home_view([secret], ALICE, CONFIG, answer())
    assert "Leaked AWS keys" in json.dumps(inside)


def test_no_incidents_and_the_declare_button() -> None:
    view = ui.home_view([], ALICE, CONFIG, answer())
    assert view["type"] == "home"
    assert "No open incidents" in texts(view)[1]
    buttons = [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(b["text"]["text"], b["action_id"]) for b in buttons] == [
        ("Declare incident", ui.ACTION_DECLARE)
    ]


def test_on_call_or_why_not() -> None:
    shown = texts(ui.home_view([], ALICE, CONFIG, answer(sections=2)))
    assert shown[shown.index("On call now") + 1].startswith("*team0*")
    assert "<@U0BOB>" in shown[shown.index("On call now") + 1]
    stale = texts(ui.home_view([], ALICE, CONFIG, answer(unreachable=True)))
    assert "PagerDuty unreachable" in stale[stale.index("On call now") + 1]
    off = texts(ui.home_view([], ALICE, CONFIG, NOT_CONFIGURED))
    assert off[-1] == f":information_source: {NOT_CONFIGURED}"


def test_many_incidents_fit_100_blocks_and_say_how_many_more() -> None:
    many = [incident(n, roles={"commander": ALICE} if n % 3 else {}) for n in range(1, 301)]
    view = ui.home_view(many, ALICE, CONFIG, answer(sections=30))
    assert MODAL_BLOCK_LIMIT - 2 <= len(view["blocks"]) <= MODAL_BLOCK_LIMIT
    assert view_problems(view, kinds=("home",)) == []
    listed = len(rows(view))
    more = [t for t in texts(view) if t.startswith("…and ")]
    assert more[0].startswith(f"…and {300 - listed} more")
    assert any(t.startswith("…and 20 more: `/oncall`") for t in texts(view))

"""The card's controls and their forms (blocks/incident_controls.py), and the runbook
suggestions they offer (bot/runbooks/library.py): what each shows for the incident's
state, within Slack's limits (blocks/limits.py)."""

from __future__ import annotations

from typing import Any

import pytest

import blocks.incident_controls as ui
from blocks.limits import check_blocks, check_view
from bot.core.config import IncidentConfig
from bot.core.models import Incident, PageState
from bot.runbooks.library import Runbook, default_runbooks_dir, load_runbooks, suggest_runbooks
from tests.unit.test_incident_blocks import incident

CONFIG = IncidentConfig()
TEAM = IncidentConfig.model_validate(
    {
        "roles": [
            "commander",
            {"name": "tech_lead", "required_for": ["SEV1"]},
            "comms_lead",
            "security_lead",
            "scribe",
        ]
    }
)


@pytest.fixture(scope="module")
def shipped() -> dict[str, Runbook]:
    return load_runbooks(default_runbooks_dir())


def rows(inc: Incident, config: IncidentConfig = CONFIG) -> list[list[str]]:
    """The card's actions rows, each as its elements' action ids."""
    return [[e["action_id"] for e in row["elements"]] for row in ui.card_controls(inc, config)]


# -- the card ------------------------------------------------------------------------------


def test_two_rows_at_most_and_the_second_holds_roles_runbook_and_escalate() -> None:
    first = [ui.ACTION_POST_UPDATE, ui.ACTION_SEVERITY, ui.ACTION_RESOLVE]
    paging = [ui.ACTION_ROLES, ui.ACTION_RUNBOOK, ui.ACTION_ESCALATE]
    assert rows(incident()) == [first, paging]
    # nobody commands: Take command first
    assert rows(incident(roles={}))[0] == [ui.ACTION_TAKE_COMMAND, *first]
    # SEV3 pages nobody: nothing to escalate, unless a page is still open (lowered after it)
    assert rows(incident(severity="SEV3"))[1] == [ui.ACTION_ROLES, ui.ACTION_RUNBOOK]
    page = PageState(incident_key="k", requested_at=1.0, status="triggered")
    assert rows(incident(severity="SEV3", page=page))[1] == paging
    resolved = page.model_copy(update={"status": "resolved"})
    assert ui.ACTION_ESCALATE not in rows(incident(severity="SEV3", page=resolved))[1]
    # resolved: no controls at all
    assert rows(incident(status="resolved", resolved_at=1_795_003_600.0)) == []
    blocks = ui.card_controls(incident(roles={}), CONFIG)
    assert [b["block_id"] for b in blocks] == [ui.CONTROLS_BLOCK, ui.MORE_CONTROLS_BLOCK]
    assert check_blocks(blocks) == []
    assert all(b["elements"][0].get("value") == "20261122-3" for b in blocks)


def test_escalate_asks_slacks_confirmation_first() -> None:
    [escalate] = [
        e
        for e in ui.card_controls(incident(), CONFIG)[1]["elements"]
        if e["action_id"] == "incident_escalate"
    ]
    assert escalate["value"] == "20261122-3" and escalate["style"] == "danger"
    confirm = escalate["confirm"]
    assert confirm["title"]["text"] == "Escalate the page?"
    assert "/incident escalate" in confirm["text"]["text"]
    assert confirm["confirm"]["text"] == "Escalate"
    # a confirmation Slack would refuse is caught as a block Slack would refuse
    too_long: dict[str, Any] = {
        **escalate,
        "confirm": {**confirm, "deny": {"type": "plain_text", "text": "x" * 31}},
    }
    assert check_blocks([{"type": "actions", "elements": [too_long]}])


# -- the roles form ---------------------------------------------------------------------------


def test_the_roles_form_has_a_user_select_per_role_holding_who_has_it() -> None:
    inc = incident(roles={"commander": "U0ALICE", "scribe": "U0BOB"})
    view = ui.roles_modal(inc, TEAM, private_metadata="{}")
    assert check_view(view) == []
    fields = [b for b in view["blocks"] if b["type"] == "input"]  # type: ignore[attr-defined]
    assert [f["label"]["text"] for f in fields] == [
        "Commander",
        "Tech Lead",
        "Comms Lead",
        "Security Lead",
        "Scribe",
    ]
    assert all(f["element"]["type"] == "users_select" and f["optional"] for f in fields)
    assert [f["element"].get("initial_user") for f in fields] == [
        "U0ALICE",
        None,
        None,
        None,
        "U0BOB",
    ]
    assert [f["block_id"] for f in fields] == [ui.role_field(r) for r in TEAM.roles]
    # the procedure's required role says so at SEV1, not at SEV3
    assert "needs one at SEV1" in fields[1]["hint"]["text"]
    sev3 = ui.roles_modal(incident(severity="SEV3"), TEAM, private_metadata="{}")
    assert not any("hint" in b for b in sev3["blocks"])  # type: ignore[attr-defined]


# -- the runbook picker ------------------------------------------------------------------------


def picker(view: dict[str, Any]) -> dict[str, Any]:
    [field] = [b for b in view["blocks"] if b.get("block_id") == ui.RUNBOOK_FIELD]
    return dict(field["element"])


def test_the_picker_offers_the_suggested_first_and_marks_what_is_posted(
    shipped: dict[str, Runbook],
) -> None:
    inc = incident(title="Database refusing connections", alertname="DatabaseDown")
    suggested, others = suggest_runbooks(
        shipped.values(), alertname="DatabaseDown", title=inc.title
    )
    assert suggested[0].id == "database-down"
    view = ui.runbook_modal(inc, suggested, others, posted={"database-down"}, private_metadata="{}")
    assert check_view(view) == []
    menu = picker(view)
    groups = menu["option_groups"]
    assert [g["label"]["text"] for g in groups] == ["Suggested", "Other runbooks"]
    assert [o["value"] for o in groups[0]["options"]] == [b.id for b in suggested]
    assert len(groups[1]["options"]) == len(others) == len(shipped) - len(suggested)
    first = groups[0]["options"][0]
    assert first["text"]["text"].startswith("✓ ") and "Posted" in first["description"]["text"]
    # the best one not posted yet is picked: one click on Post posts it
    assert len(suggested) > 1
    assert menu["initial_option"] == groups[0]["options"][1]
    assert not groups[0]["options"][1]["text"]["text"].startswith("✓")


def test_without_a_fit_the_picker_is_one_list_and_picks_nothing(
    shipped: dict[str, Runbook],
) -> None:
    suggested, others = suggest_runbooks(shipped.values(), alertname=None, title="Zzz qqq")
    assert suggested == []
    view = ui.runbook_modal(
        incident(title="Zzz qqq"), suggested, others, posted=set(), private_metadata="{}"
    )
    menu = picker(view)
    assert "option_groups" not in menu and "initial_option" not in menu
    assert [o["value"] for o in menu["options"]] == sorted(shipped)


def test_a_library_of_hundreds_stays_within_one_menu(shipped: dict[str, Runbook]) -> None:
    book = next(iter(shipped.values()))
    many = [book.model_copy(update={"id": f"book-{i:03d}", "title": "T" * 120}) for i in range(150)]
    view = ui.runbook_modal(incident(), many[:3], many[3:], posted=set(), private_metadata="{}")
    assert check_view(view) == []
    menu = picker(view)
    assert sum(len(g["options"]) for g in menu["option_groups"]) == ui.OPTIONS_MAX
    assert "50 more" in str(view["blocks"])


# -- runbook suggestions ---------------------------------------------------------------------


def test_suggestions_rank_by_alert_then_title_then_description(
    shipped: dict[str, Runbook],
) -> None:
    def ids(**about: Any) -> list[str]:
        return [b.id for b in suggest_runbooks(shipped.values(), **about)[0]]

    # the alert's runbook first, whatever the title says
    assert ids(alertname="RedisDown", title="Disk full")[:2] == ["redis-down", "disk-space"]
    # words of the title against the runbooks' titles, ids and alerts
    assert ids(alertname=None, title="Redis is down")[0] == "redis-down"
    # the description counts, below the title, against summaries too
    described = ids(
        alertname=None, title="Checkout broken", description="the volume is nearly full"
    )
    assert described[0] == "disk-space"
    # at most three; a severity alone suggests nothing
    assert len(ids(alertname=None, title="database redis disk memory latency traffic")) == 3
    assert ids(alertname=None, title="", severity="SEV1") == []


@pytest.mark.parametrize(
    ("title", "first"),
    [
        ("Checkout returns 500s", "high-error-rate"),  # a status class is the 5xx runbook's
        ("Checkout is down", "service-down"),  # the plainest name of those that say "down"
        ("Payments slow", "high-latency"),  # a word responders use for the runbook's
        ("Bad deploy broke login", "deployment-failure"),
        ("Disk full on db host", "disk-space"),
    ],
)
def test_a_responders_words_find_the_runbook_named_otherwise(
    shipped: dict[str, Runbook], title: str, first: str
) -> None:
    suggested, _ = suggest_runbooks(shipped.values(), alertname=None, title=title)
    assert suggested[0].id == first


def test_the_same_severity_breaks_a_tie(shipped: dict[str, Runbook]) -> None:
    base = shipped["disk-space"]
    alike = {"title": "Queue stuck", "alerts": [], "summary": ""}
    sev1 = base.model_copy(update={**alike, "id": "queue-a", "severity": "SEV1"})
    sev2 = base.model_copy(update={**alike, "id": "queue-b", "severity": "SEV2"})
    for about in ({}, {"severity": "SEV1"}, {"severity": "SEV2"}):
        for books in ([sev1, sev2], [sev2, sev1]):  # never the input order
            suggested, _ = suggest_runbooks(books, alertname=None, title="queue stuck", **about)
            expected = (
                ["queue-b", "queue-a"] if about == {"severity": "SEV2"} else ["queue-a", "queue-b"]
            )
            assert [b.id for b in suggested] == expected

"""The shortcuts' builders, and what an alert's Declare incident form is filled in with
(blocks/shortcuts.py, blocks/alerts.py, bot/alerts/claim.py): pure, checked against
Slack's limits (blocks/limits.py). Their manifest entries: tests/unit/test_manifest.py."""

from __future__ import annotations

import json
from typing import Any

import blocks.alerts as alerts_ui
import blocks.incident as incident_ui
import blocks.shortcuts as ui
from blocks.limits import check_blocks, check_view
from blocks.mrkdwn import md
from bot.alerts.claim import prefill, suggested_runbook, suggested_severity, thread_field
from bot.core.config import IncidentConfig
from bot.core.models import AlertGroupView, AlertInstance, Incident, MessageRef
from bot.core.redaction import outside
from bot.runbooks.library import default_runbooks_dir, load_runbooks

CONFIG = IncidentConfig()


def incident(**fields: Any) -> Incident:
    base: dict[str, Any] = {
        "id": "20261122-3",
        "title": "Checkout down",
        "severity": "SEV2",
        "declared_by": "U0ALICE",
        "declared_at": 1_700_000_000.0,
        "channel_id": "C0INC",
        "channel_name": "inc-20261122-3-checkout-down",
    }
    return Incident(**{**base, **fields})


# -- filled in from a message -----------------------------------------------------------------


def test_a_message_titles_by_its_first_line_as_its_reader_saw_it() -> None:
    wire = "\n  \n*Checkout* &lt;EU&gt; down, <@U0BOB|bob> on it <https://x.io|dash>\nsecond"
    assert ui.message_title(wire) == "*Checkout* <EU> down, @bob on it dash (https://x.io)"
    assert ui.message_title("word " * 60).endswith("…") and len(ui.message_title("a " * 99)) == 150
    assert ui.message_title("   \n ") == ""
    assert ui.message_description(wire).endswith("dash (https://x.io)\nsecond")


def test_the_declare_form_filled_in_keeps_to_slacks_limits() -> None:
    view = incident_ui.declare_modal(
        CONFIG,
        title="x" * 400,
        description="y" * 4000,
        runbooks=[("disk-space", "Disk space low"), ("service-down", "Service down")],
        runbook="disk-space",
        private=True,
        severity="SEV2",
        callback_id=ui.DECLARE_FROM_MESSAGE_FORM,
        note=ui.from_message("C0GEN", "U0CAROL"),
        private_metadata="{}",
    )
    assert check_view(view) == []
    blocks = {b.get("block_id"): b for b in view["blocks"]}  # type: ignore[attr-defined]
    assert view["callback_id"] == ui.DECLARE_FROM_MESSAGE_FORM
    assert len(blocks["title"]["element"]["initial_value"]) == 150
    assert len(blocks["description"]["element"]["initial_value"]) == 2500
    assert blocks["runbook"]["element"]["initial_option"]["value"] == "disk-space"
    assert blocks["severity"]["element"]["initial_option"]["value"] == "SEV2"
    assert blocks["private"]["element"]["initial_options"][0]["value"] == "private"
    assert "<@U0CAROL>" in json.dumps(view["blocks"]) and "<#C0GEN>" in json.dumps(view["blocks"])
    assert blocks[incident_ui.COMMAND_FIELD]["element"]["initial_options"][0]["value"] == (
        incident_ui.COMMAND_FIELD
    )
    # unfilled, as the command opens it: no initial values but "I'll command it" ticked
    plain = incident_ui.declare_modal(CONFIG, runbooks=[("disk-space", "Disk space low")])
    [box] = [b for b in plain["blocks"] if b.get("block_id") == incident_ui.COMMAND_FIELD]  # type: ignore[attr-defined]
    assert box["element"]["initial_options"] == box["element"]["options"]
    rest = [b for b in plain["blocks"] if b is not box]  # type: ignore[attr-defined]
    assert "initial_value" not in json.dumps(rest) and "initial_options" not in json.dumps(rest)


def test_the_card_links_to_the_message_it_was_declared_from() -> None:
    link = "https://fake.slack.com/archives/C0GEN/p1700000000000100"
    origin = MessageRef(channel="C0GEN", ts="1700000000.000100", user="U0CAROL", permalink=link)
    _, blocks = incident_ui.summary_card(incident(origin=origin), CONFIG)
    assert check_blocks(blocks) == []
    assert f"<{link}|this message> by <@U0CAROL>" in json.dumps(blocks)
    # outside a private incident's channel nothing says where it came from
    assert outside(incident(origin=origin, private=True), CONFIG).origin is None


# -- Add to incident timeline ----------------------------------------------------------------


def test_the_timeline_form_offers_the_incidents_and_picks_a_lone_one() -> None:
    quote = md("EU card payments fail")
    one = ui.add_form([incident()], quote, "{}")
    assert check_view(one) == [] and one["submit"]
    [picker] = [b for b in one["blocks"] if b.get("block_id") == ui.ADD_INCIDENT]  # type: ignore[attr-defined]
    assert picker["element"]["initial_option"]["value"] == "20261122-3"
    many = ui.add_form([incident(id=f"20261122-{n}") for n in range(150)], quote, "{}")
    assert check_view(many) == []
    [picker] = [b for b in many["blocks"] if b.get("block_id") == ui.ADD_INCIDENT]  # type: ignore[attr-defined]
    assert len(picker["element"]["options"]) == ui.CHOICES and "initial_option" not in picker
    none = ui.add_form([], quote, "{}")
    assert check_view(none) == [] and "submit" not in none
    assert "no open incident" in json.dumps(none["blocks"])
    loading = ui.add_form_loading(quote, "{}")
    assert check_view(loading) == [] and "submit" not in loading


def test_the_answers_say_where_it_went_or_that_it_was_there() -> None:
    text, blocks = ui.added(incident(), new=True)
    assert "Added to the timeline of *20261122-3*" in text and "<#C0INC>" in text
    assert "already" in ui.added(incident(), new=False)[0]
    assert check_blocks(blocks) == []
    notice, blocks = ui.added_notice("U0ALICE", "C0GEN", "https://fake.slack.com/archives/C0GEN/p1")
    assert notice == (
        ":pushpin: <https://fake.slack.com/archives/C0GEN/p1|A message> from <#C0GEN> was added "
        "to the timeline by <@U0ALICE>."
    )
    assert "came without the message" in ui.malformed("the message")[0]


# -- an alert's incident, claimable -----------------------------------------------------------


def view(**labels: str) -> AlertGroupView:
    alert = AlertInstance(
        fingerprint="f1",
        status="firing",
        alertname="DiskSpaceLow",
        labels={"alertname": "DiskSpaceLow", "instance": "db-1", **labels},
        annotations={"summary": "disk 95% full", "description": "/var is filling"},
        message=MessageRef(channel="C0ALERTS", ts="1700000000.000200"),
    )
    return AlertGroupView(
        group_id="g1",
        alertname="DiskSpaceLow",
        title="DiskSpaceLow db",
        labels={"service": "db"},
        source="slack",
        firing=1,
        resolved=0,
        sample=[alert],
        updated_at=1_700_000_000.0,
    )


RUNBOOKS = load_runbooks(default_runbooks_dir())


def test_an_alert_fills_the_form_with_its_title_and_hints() -> None:
    fill = prefill(view(), severity="SEV3", runbook=None)
    assert (fill.title, fill.description) == ("DiskSpaceLow: disk 95% full", "/var is filling")
    # a severity label by name, alias or label; none that fits: no suggestion
    assert suggested_severity(view(severity="critical"), CONFIG) == "SEV1"
    assert suggested_severity(view(severity="P1"), CONFIG) == "SEV2"
    assert suggested_severity(view(priority="sev3"), CONFIG) == "SEV3"
    assert suggested_severity(view(severity="warning"), CONFIG) is None
    # a runbook named by label or URL; else the one listing the alert
    assert suggested_runbook(view(runbook="redis-down"), RUNBOOKS) == "redis-down"
    hinted = view(runbook_url="https://wiki/runbooks/high-latency.md")
    assert suggested_runbook(hinted, RUNBOOKS) == "high-latency"
    assert suggested_runbook(view(), RUNBOOKS) == "disk-space"  # its `alerts` lists DiskSpaceLow
    odd = view().model_copy(update={"alertname": "NothingKnown", "title": "NothingKnown"})
    assert suggested_runbook(odd, RUNBOOKS) is None
    assert thread_field(view().sample[0].message) == "C0ALERTS 1700000000.000200"


def test_the_thread_reply_links_the_incident_and_says_nobody_commands_it() -> None:
    text, blocks = alerts_ui.thread_reply(incident(roles={}))
    assert check_blocks(blocks) == [] and "20261122-3" in text
    shown = json.dumps(blocks)
    assert "<#C0INC>" in shown and "Take command" in shown
    commanded = json.dumps(alerts_ui.thread_reply(incident(roles={"commander": "U0BOB"}))[1])
    assert "Take command" not in commanded and "<@U0BOB>" in commanded
    # a private incident's, as it is shown outside its channel
    private = outside(incident(private=True, title="Leaked key", roles={}), CONFIG)
    assert "Leaked key" not in json.dumps(alerts_ui.thread_reply(private))

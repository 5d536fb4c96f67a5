"""The redaction policy of private incidents (bot/core/redaction.py) and the blocks it feeds."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

import blocks.incident as ui
import blocks.privacy as pv
from blocks.alerts import unmatched_alert
from blocks.limits import check_blocks, check_view
from bot.core import redaction
from bot.core.config import IncidentConfig
from bot.core.models import AlertGroupView, AlertInstance, Incident, StatusUpdate
from bot.incidents import channel_name

CONFIG = IncidentConfig.model_validate(
    {
        "roles": ["commander", "tech_lead", "security_lead"],
        "private": {
            "runbooks": ["security-incident"],
            "labels": {"security": True, "team": "secops"},
            "security_group": "S0SEC",
        },
    }
)
TITLE = "Leaked AWS keys in the public repo"
DESCRIPTION = "Key AKIAEXAMPLE pushed to github.com/acme/site at 09:12"


def incident(**kw: object) -> Incident:
    base: dict[str, object] = dict(
        id="20261122-3",
        title=TITLE,
        severity="SEV1",
        description=DESCRIPTION,
        declared_by="U0ALICE",
        declared_at=1_795_000_000.0,
        roles={"commander": "U0ALICE"},
        channel_id="G0PRIV",
        channel_name="inc-20261122-3-private",
        announce_channel="C0ANN",
        announce_ts="1.2",
        private=True,
        runbook="security-incident",
        alertname="CredentialLeak",
        last_update=StatusUpdate(
            at=1_795_000_100.0,
            by="U0ALICE",
            text="Key revoked at 09:40",
            status="identified",
            severity="SEV1",
        ),
        resolution="Rotated every key of the account",
    )
    base.update(kw)
    return Incident.model_validate(base)


def dump(message: object) -> str:
    return json.dumps(message)


SECRETS = (TITLE, DESCRIPTION, "Key revoked at 09:40", "Rotated every key", "security-incident")


def test_outside_keeps_what_people_need_and_drops_what_happened() -> None:
    inc = incident(roles={"commander": "U0ALICE", "security_lead": "U0CAROL"})
    shown = redaction.outside(inc, CONFIG)
    assert shown.redacted and not inc.redacted  # a copy; the original is untouched
    assert shown.title == "Private incident 20261122-3"
    assert (shown.description, shown.resolution, shown.last_update) == ("", None, None)
    assert (shown.runbook, shown.alertname, shown.channel_name) == (None, None, "")
    assert (shown.id, shown.severity, shown.status) == (inc.id, "SEV1", "investigating")
    assert shown.roles == inc.roles and shown.channel_id == "G0PRIV"
    assert not any(s in shown.model_dump_json() for s in SECRETS)
    assert "redacted" not in inc.model_dump()  # never stored


def test_a_public_incident_passes_through_unchanged() -> None:
    inc = incident(private=False)
    assert redaction.outside(inc, CONFIG) is inc
    assert redaction.for_pagerduty(inc, CONFIG) is inc
    assert redaction.scrub(inc, f"about {TITLE}") == f"about {TITLE}"
    assert redaction.upload_channel(inc, "C0ELSE") == "C0ELSE"
    assert redaction.metric_label(inc, "security-incident") == "security-incident"


def test_the_destination_decides() -> None:
    inc = incident()
    assert redaction.for_destination(inc, CONFIG, "G0PRIV") is inc  # its own channel
    for elsewhere in ("C0ANN", "U0DAVE", None, ""):
        assert redaction.for_destination(inc, CONFIG, elsewhere).redacted
    assert redaction.for_reader(inc, CONFIG, member=True) is inc
    assert redaction.for_reader(inc, CONFIG, member=False).redacted


def test_private_by_default_from_runbook_or_labels() -> None:
    yes = redaction.private_by_default
    assert yes(CONFIG, runbook="security-incident")
    assert not yes(CONFIG, runbook="database-down")
    assert yes(CONFIG, labels={"security": "true"})  # YAML's `true` reads as "true"
    assert yes(CONFIG, labels={"security": "True", "severity": "page"})
    assert yes(CONFIG, labels={"team": "secops"})
    assert not yes(CONFIG, labels={"security": "false", "team": "web"})
    assert not yes(IncidentConfig(), runbook="security-incident", labels={"security": "true"})
    anything = IncidentConfig.model_validate({"private": {"labels": {"security": "*"}}})
    assert yes(anything, labels={"security": "maybe"})


def test_pagerduty_sees_a_generic_title_unless_the_team_allows_more() -> None:
    inc = incident()
    shown = redaction.for_pagerduty(inc, CONFIG)
    assert shown.title == "Private incident 20261122-3" and shown.description == ""
    trusting = CONFIG.model_copy(
        update={"private": CONFIG.private.model_copy(update={"generic_page_title": False})}
    )
    assert redaction.for_pagerduty(inc, trusting) is inc


def test_scrub_takes_out_private_texts_as_typed_and_as_slack_escapes_them() -> None:
    inc = incident(title="Keys <leaked> & sold")
    text = "Re Keys <leaked> & sold / Keys &lt;leaked&gt; &amp; sold: " + DESCRIPTION
    out = redaction.scrub(inc, text)
    assert "leaked" not in out and "AKIAEXAMPLE" not in out and out.count("[private]") == 3
    assert redaction.scrub(incident(title="DB"), "DB is down") == "DB is down"  # too short


def test_files_about_a_private_incident_stay_in_its_channel() -> None:
    assert redaction.upload_channel(incident(), "C0ANN") == "G0PRIV"
    assert redaction.upload_channel(incident(), None) == "G0PRIV"
    assert redaction.metric_label(incident(), "security-incident") == "private"


def test_an_alert_that_makes_a_private_incident_shows_only_counts_outside() -> None:
    alert = AlertInstance(
        fingerprint="f1",
        status="firing",
        alertname="CredentialLeak",
        labels={"security": "true", "repo": "acme/site"},
        annotations={"summary": "AWS key in acme/site", "description": DESCRIPTION},
    )
    view = AlertGroupView(
        group_id="g1",
        alertname="CredentialLeak",
        title="CredentialLeak acme/site",
        labels={"repo": "acme/site"},
        source="alertmanager",
        firing=1,
        resolved=0,
        sample=[alert],
        updated_at=1_795_000_000.0,
        link="http://alertmanager/#/alerts",
    )
    shown = redaction.alert_view(view, CONFIG)
    text = dump(unmatched_alert(shown, None))
    assert "acme/site" not in text and "AKIAEXAMPLE" not in text and "CredentialLeak" not in text
    assert "1 firing" in text and "g1" in text  # the Declare button still names the group
    plain = view.model_copy(update={"sample": [alert.model_copy(update={"labels": {}})]})
    assert redaction.alert_view(plain, CONFIG) is plain


def test_announcement_list_and_ack_of_the_redacted_copy() -> None:
    inc = incident(roles={"commander": "U0ALICE", "security_lead": "U0CAROL"})
    shown = redaction.outside(inc, CONFIG)
    text, blocks = ui.announcement(shown, CONFIG)
    assert text == "A private SEV1 incident was declared (20261122-3)"
    assert "ask the security lead <@U0CAROL> for access" in dump(blocks)
    assert check_blocks(blocks) == []
    listed = ui.incident_list([shown, incident(id="20261122-4", private=False)], CONFIG)
    assert "_Private incident_" in dump(listed) and TITLE in dump(listed)  # the public one
    assert check_blocks(listed[1]) == []
    for message in (
        ui.announcement(shown, CONFIG),
        ui.announcement(shown.model_copy(update={"status": "resolved"}), CONFIG),
        ui.incident_list([shown], CONFIG),
        ui.declared_ack(shown),
        pv.moved_pointer(shown, CONFIG, by="U0BOB"),
    ):
        assert not any(s in dump(message) for s in SECRETS), message
    # members see the whole row, marked private
    assert f":lock: {TITLE}" in dump(ui.incident_list([inc], CONFIG))


def test_whom_to_ask_for_access() -> None:
    inc = incident()
    assert "<!subteam^S0SEC>" in pv.access_contact(inc, CONFIG)
    inc.roles["security_lead"] = "U0CAROL"
    assert "<@U0CAROL>" in pv.access_contact(inc, CONFIG)
    assert "<@U0ALICE>" in pv.access_contact(incident(), IncidentConfig())


def test_the_declare_form_has_a_private_checkbox() -> None:
    view = ui.declare_modal(CONFIG, runbooks=[("security-incident", "Security incident")])
    assert check_view(view) == []
    box = next(b for b in view["blocks"] if b["block_id"] == pv.PRIVATE_FIELD)  # type: ignore[index]
    assert box["optional"] and box["element"]["type"] == "checkboxes"


titles = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=3, max_size=140
).map(lambda s: "Zq" + s)


@given(title=titles, description=titles, update=titles)
def test_no_redacted_surface_carries_the_private_texts(
    title: str, description: str, update: str
) -> None:
    inc = incident(title=title, description=description, resolution=update)
    inc.last_update = inc.last_update.model_copy(update={"text": update})  # type: ignore[union-attr]
    for destination in ("C0ANN", "U0DAVE", None):
        shown = redaction.for_destination(inc, CONFIG, destination)
        out = dump(
            [
                ui.announcement(shown, CONFIG),
                ui.incident_list([shown], CONFIG),
                ui.declared_ack(shown),
                redaction.for_pagerduty(inc, CONFIG).model_dump(),
                shown.model_dump(),
            ]
        )
        # the generated texts all start "Zq": nothing the bot writes itself does
        assert "Zq" not in out
    for secret in (title, description, update):
        assert "Zq" not in redaction.scrub(inc, f"<< {secret} >>")


def test_private_channel_names_have_a_random_part_and_no_title() -> None:
    names = {redaction.private_channel_name("inc", "20261122", 3) for _ in range(100)}
    assert len(names) == 100  # nobody can make the next one first: it cannot be worked out
    assert all(re.fullmatch(r"inc-20261122-3-private-[0-9a-f]{10}", n) for n in names)


@given(st.text(max_size=150), st.sampled_from(["", "a1b2c3"]))
def test_channel_names_keep_to_slacks_rules_with_their_fresh_part(title: str, token: str) -> None:
    name = channel_name("drill", "20261122", 12345, title, token)
    assert len(name) <= 80 and re.fullmatch(r"[a-z0-9-]+", name)
    assert name.startswith("drill-20261122-12345") and name.endswith(token)

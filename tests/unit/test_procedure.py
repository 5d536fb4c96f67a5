"""The procedure as configuration: validation with precise messages, the lookups the bot
runs it by, the Block Kit it shows, the stakeholder templates and the check-config text."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import blocks.escalations as esc_ui
import blocks.procedure as proc_ui
import blocks.stakeholders as sh_ui
from blocks.limits import check_blocks
from bot.core.config import ConfigError, IncidentConfig, StakeholderAudience, load_config
from bot.core.identity import Identity
from bot.core.models import (
    EscalationFired,
    EscalationRow,
    EscalationState,
    Incident,
    StatusUpdate,
    TimelineEntry,
)
from bot.core.store import Store
from bot.escalations import Escalations
from bot.fakes.slack import FakeSlack
from bot.procedure import procedure_text
from bot.sandbox.procedure_demo import demo_procedure
from bot.stakeholders import Drafts, check_templates, draft_context, sample_incidents

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "procedure.example.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "incident.yaml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    return str(err.value)


# -- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # a bad duration, at its key and line
            "escalation:\n  matrix:\n    SEV1:\n      - {after: soon, notify: [U0BOB]}\n",
            "incident.yaml:4: escalation.matrix.SEV1[0].after: 'soon' is not a duration like "
            "30s, 15m, 2h or 1d",
        ),
        (
            "stakeholders:\n  SEV1:\n    - {audience: execs, channel: leadership, every: 0m}\n",
            "incident.yaml:3: stakeholders.SEV1[0].every: '0m' must be longer than zero",
        ),
        (  # an unknown role among the targets
            "escalation:\n  matrix:\n    SEV1:\n      - {after: 10m, notify: [U0BOB, dba]}\n",
            "incident.yaml:4: escalation.matrix.SEV1[0].notify[1]: unknown role 'dba' "
            "(roles: commander, tech_lead, comms_lead; or a Slack ID: U… user, S… user group, "
            "C… channel)",
        ),
        (  # an unknown severity in the matrix
            "escalation:\n  matrix:\n    SEV7:\n      - {after: 10m, notify: [U0BOB]}\n",
            "incident.yaml:3: escalation.matrix.SEV7: unknown severity 'SEV7' "
            "(known: SEV1, SEV2, SEV3, SEV4)",
        ),
        (  # one severity twice, by an alias
            "escalation:\n  matrix:\n    SEV1: [{after: 10m, notify: [U0BOB]}]\n"
            "    P0: [{after: 20m, notify: [U0BOB]}]\n",
            "incident.yaml:4: escalation.matrix.P0: 'P0' is SEV1 again (as 'SEV1')",
        ),
        (
            "roles: [commander, {name: security_lead, required_for: [SEV1, SEV9]}]\n",
            "incident.yaml:1: roles[1].required_for[1]: unknown severity 'SEV9'",
        ),
        (
            "stakeholders:\n  SEV2:\n    - {audience: press, channel: pr, every: 1h, "
            "owner: pr_lead}\n",
            "incident.yaml:3: stakeholders.SEV2[0].owner: unknown role 'pr_lead' "
            "(roles: commander, tech_lead, comms_lead)",
        ),
        (
            "stakeholders:\n  SEV2:\n    - {audience: press, channel: pr, every: 1h, "
            "template: memo}\n",
            "incident.yaml:3: stakeholders.SEV2[0].template: no template 'memo' "
            "(have: customer_email, executive, internal, status_page)",
        ),
        (
            "escalation:\n  matrix:\n    SEV1:\n      - {after: 10m, notify: [Bob Smith]}\n",
            "escalation.matrix.SEV1[0].notify[0]: 'Bob Smith' is not a Slack ID (U… user, "
            "S… user group, C… channel), a #channel or a role name",
        ),
        (
            "escalation:\n  matrix:\n    SEV1:\n      - {after: 10m, note: nobody}\n",
            "escalation.matrix.SEV1[0]: a step must notify someone or page",
        ),
        (
            "escalation:\n  matrix:\n    SEV1:\n      - {after: 10m, page: oncall}\n",
            "escalation.matrix.SEV1[0].page: 'oncall' is neither a PagerDuty escalation "
            "policy or schedule ID (P…) nor a schedule named in pagerduty.schedules",
        ),
        (
            "roles: [commander, Tech Lead!]\n",
            "roles[1].name: 'tech lead!' is not a role name",
        ),
    ],
)
def test_errors_name_the_key_path_and_what_is_wrong(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert expected in problems(tmp_path, text)


def test_every_whole_file_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = problems(
        tmp_path,
        "escalation:\n  matrix:\n    SEV9: [{after: 1m, notify: [dba]}]\n"
        "stakeholders:\n  SEV1: [{audience: a, channel: x, every: 1h, owner: nobody}]\n",
    )
    assert "escalation.matrix.SEV9: unknown severity" in text
    assert "escalation.matrix.SEV9[0].notify[0]: unknown role 'dba'" in text
    assert "stakeholders.SEV1[0].owner: unknown role 'nobody'" in text


def test_a_broken_team_template_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "stakeholders").mkdir()
    (tmp_path / "stakeholders" / "memo.j2").write_text("Hello\n{{ incident.title }\n")
    text = problems(
        tmp_path,
        f"templates_dir: {tmp_path}\nstakeholders:\n  SEV1:\n"
        "    - {audience: board, channel: board, every: 1h, template: memo}\n",
    )
    assert "stakeholders.SEV1[0].template:" in text and "memo.j2: line 2:" in text


def test_roles_accept_names_and_required_for() -> None:
    config = IncidentConfig.model_validate(
        {"roles": ["tech-lead", {"name": "security_lead", "required_for": ["p0", "SEV2"]}]}
    )
    assert config.roles == ["commander", "tech_lead", "security_lead"]
    assert config.required_roles("SEV1") == ["security_lead"]
    assert config.required_roles("SEV3") == []


def test_matrix_lookup_by_alias_in_time_order_and_schedules_by_name() -> None:
    config = IncidentConfig.model_validate(
        {
            "pagerduty": {"schedules": {"dba": "PS_DBA"}},
            "escalation": {
                "matrix": {
                    "p1": [
                        {"after": "1h", "notify": ["S0MGRS"]},
                        {"after": 0, "page": "dba", "note": "DB on-call at once"},
                    ]
                }
            },
        }
    )
    steps = config.matrix_for("SEV2")
    assert [s.after for s in steps] == [timedelta(0), timedelta(hours=1)]
    assert config.page_target(steps[0].page or "") == "PS_DBA"
    assert config.matrix_for("SEV1") == []


def test_the_example_procedure_loads_and_its_templates_render() -> None:
    config = load_config(EXAMPLE)
    assert check_templates(config) == []
    text = procedure_text(config)
    assert "after 1 h: user U0CTO0001, channel #leadership, page PEXEC01  # CTO" in text
    assert "customers -> #customer-success every 1 h, first after 30 min" in text
    assert "required roles: customer_success" in text


# -- templates ---------------------------------------------------------------------------


def audience(template: str, **extra: object) -> StakeholderAudience:
    return StakeholderAudience.model_validate(
        {"audience": "management", "channel": "leadership", "every": "30m", "template": template}
        | extra
    )


@pytest.mark.parametrize("template", ["internal", "executive", "status_page", "customer_email"])
def test_each_shipped_template_renders_every_status_with_the_facts(template: str) -> None:
    config = IncidentConfig()
    now = time.time()
    drafts = Drafts(config, strict=True)
    texts = [drafts.render(i, audience(template), now=now) for i in sample_incidents(config, now)]
    investigating, identified, _monitoring, resolved = texts
    public = template in ("status_page", "customer_email")
    title = "checkout API returning errors" if public else "Checkout API returning errors"
    # (a status page shows later phases under the first one, so they need no title)
    assert all(title in t for t in (texts[:2] if template == "status_page" else texts))
    if template == "status_page":
        assert [t.splitlines()[0].split(" ·")[0] for t in texts] == [
            "*Investigating*",
            "*Identified*",
            "*Monitoring*",
            "*Resolved*",
        ]
    else:  # the latest update's impact is carried into the draft
        assert "20% of checkouts fail" in identified
    assert "resolved" in resolved.lower() and "resolved" not in investigating.lower()


def test_a_team_template_wins_and_check_templates_finds_undefined_names(tmp_path: Path) -> None:
    folder = tmp_path / "stakeholders"
    folder.mkdir()
    (folder / "executive.j2").write_text("Board note: {{ incident.title }} ({{ incident.sev }})")
    config = IncidentConfig.model_validate(
        {
            "templates_dir": str(tmp_path),
            "stakeholders": {"SEV1": [{"audience": "board", "channel": "b", "every": "1h"}]},
        }
    )
    config = config.model_copy(
        update={"stakeholders": {"SEV1": [audience("executive")]}}  # template: executive
    )
    [(key, problem)] = check_templates(config)
    assert key == ("stakeholders", "SEV1", 0, "template")
    assert f"{folder / 'executive.j2'}:1 (rendering a sample investigating incident)" in problem
    assert "'dict object' has no attribute 'sev'" in problem
    incident = sample_incidents(config, time.time())[0]
    draft, why = Drafts(config).draft(incident, audience("executive"), now=time.time())
    assert draft == "Board note: Checkout API returning errors ()" and why is None


def test_the_draft_context_names_the_latest_update_fields() -> None:
    incident = sample_incidents(IncidentConfig(), 1_700_000_000)[1]
    context = draft_context(incident, audience("internal"), IncidentConfig(), now=1_700_000_000)
    update = context["update"]
    assert update["impact"] == "20% of checkouts fail" and update["actions"] == "rolling back"
    assert context["next_update"] == "22:43 UTC"  # 30 min after 22:13 UTC
    assert context["incident"]["public_title"] == "checkout API returning errors"


# -- blocks ------------------------------------------------------------------------------


def incident(**extra: object) -> Incident:
    return Incident.model_validate(
        {
            "id": "20250101-1",
            "title": "Checkout API returning errors",
            "severity": "SEV1",
            "declared_by": "U0ALICE",
            "declared_at": 1_700_000_000,
            "roles": {"commander": "U0ALICE"},
            "channel_id": "C0INC",
            "channel_name": "inc-20250101-1-checkout",
        }
        | extra
    )


def fired(**extra: object) -> EscalationFired:
    return EscalationFired.model_validate(
        {
            "key": "matrix:SEV1:0",
            "since": 1_700_000_000,
            "at": 1_700_000_900,
            "after": 900,
            "severity": "SEV1",
            "note": "Team lead",
            "notified": ["U0BOB", "S0MGRS", "C0LEAD"],
            "paged": "PEP_MAIN",
            "token": "t",
        }
        | extra
    )


def test_the_escalation_notice_mentions_whom_it_pulls_in() -> None:
    text, blocks = esc_ui.escalation_notice(incident(), fired(), step=1, steps=3)
    assert "unresolved 15 min since it was declared" in text
    assert "<@U0BOB>, <!subteam^S0MGRS> · posted in <#C0LEAD> · paging `PEP_MAIN`" in text
    assert "SEV1 escalation matrix, step 1 of 3" in str(blocks)
    assert check_blocks(blocks) == []
    unfilled = fired(notified=[], paged=None, unfilled=["dba"])
    text, _ = esc_ui.escalation_notice(incident(), unfilled, step=None, steps=None, roles=["dba"])
    assert "Nobody holds dba: <@U0ALICE>, assign someone with `/incident role dba @user`" in text
    text, _ = esc_ui.escalation_notice(incident(), unfilled, step=None, steps=None)
    assert "pull the right person in" in text


def test_the_dm_carries_the_incident_link() -> None:
    text, blocks = esc_ui.escalation_dm(incident(), fired(), IncidentConfig())
    assert text.startswith(":rotating_light: You are being pulled into incident *20250101-1*")
    assert "Join <#C0INC>" in text and "commander is <@U0ALICE>" in text
    assert check_blocks(blocks) == []


def test_escalations_view_shows_fired_skipped_and_due_with_date_tokens() -> None:
    rows = [
        EscalationRow(
            label="Team lead",
            after=900,
            targets=["U0BOB"],
            state="fired",
            at=1_700_000_900,
            reached=["U0BOB"],
            severity="SEV1",
        ),
        EscalationRow(
            label="Director",
            after=1800,
            targets=["U0BOB"],
            state="skipped",
            at=1_700_001_800,
            severity="SEV1",
        ),
        EscalationRow(
            label="CTO",
            after=3600,
            targets=["tech_lead"],
            page="PEP_MAIN",
            state="due",
            at=1_700_003_600,
            severity="SEV1",
        ),
        EscalationRow(
            label="Database lead",
            after=600,
            targets=["dba"],
            runbook="database-down",
            state="due",
            at=1_700_000_600,
        ),
    ]
    state = EscalationState(severity="SEV1", since=1_700_000_000)
    text, blocks = esc_ui.escalations(incident(escalation=state), rows, IncidentConfig())
    body = str(blocks)
    assert (
        ":white_check_mark: *Team lead* (after 15 min) → <@U0BOB> · fired <!date^1700000900^"
        in body
    )
    assert ":heavy_minus_sign: *Director*" in body and "reached already" in body
    assert "→ the tech lead, page `PEP_MAIN` · due <!date^1700003600^" in body
    assert "_Runbook database-down_" in body
    assert text == "Escalations of 20250101-1: 1 fired"
    assert check_blocks(blocks) == []


def test_procedure_and_roles_views() -> None:
    config = load_config(EXAMPLE)
    text, blocks = proc_ui.procedure(config, "SEV1")
    body = str(blocks)
    assert "Procedure · SEV1 (Critical)" in body
    assert "• after 15 min: <!subteam^S0TEAMLEADS> — Team lead" in body
    assert "*management* → #leadership every 15 min, template `executive`" in body
    assert "*Required roles:* customer success" in body
    assert check_blocks(blocks) == []
    _, every = proc_ui.procedure(config, None)
    assert check_blocks(every) == [] and str(every).count("Procedure ·") == 4
    text, blocks = proc_ui.roles(incident(roles={"commander": "U0ALICE"}), config)
    body = str(blocks)
    assert "*Commander*: <@U0ALICE>" in body
    assert "*Customer Success*: _empty_ :warning: required for SEV1" in body
    assert text == "Roles of 20250101-1: 1 held, 6 empty"


def test_the_card_flags_a_required_role_until_filled() -> None:
    from blocks.incident import summary_card

    config = load_config(EXAMPLE)
    _, blocks = summary_card(incident(), config)
    assert "needed for SEV1" in str(blocks)
    assert check_blocks(blocks) == []  # 7 roles: the fields take two sections
    _, filled = summary_card(
        incident(roles={"commander": "U0A", "customer_success": "U0B"}), config
    )
    assert "needed for" not in str(filled)


def test_stakeholder_reminder_modal_and_update() -> None:
    config = load_config(EXAMPLE)
    [engineering, management, *_] = config.stakeholders_for("SEV1")
    inc = incident(
        last_update=StatusUpdate(
            at=1_700_000_100, by="U0ALICE", text="x", status="investigating", severity="SEV1"
        )
    )
    text, blocks = sh_ui.update_due(inc, management, owner="U0CAROL", last_sent=None)
    assert text.startswith("<@U0CAROL> *management* is due an update")
    assert "(<#leadership>" not in text and "#leadership, every 15 min; none sent yet" in text
    assert check_blocks(blocks) == []
    modal = sh_ui.draft_modal(inc, management, "Hello " * 700, private_metadata="{}")
    assert check_blocks(modal["blocks"], modal=True) == []  # type: ignore[arg-type]
    # the draft's own mentions (the incident's people) stay live; anything else typed is text
    text = "*Status:* fine, ask <@U0ALICE> <@U0BOB> & <b> <!here>"
    _, update = sh_ui.stakeholder_update(inc, text, by="U0CAROL")
    assert "*Status:* fine, ask <@U0ALICE> &lt;@U0BOB&gt; &amp; &lt;b&gt; &lt;!here&gt;" in str(
        update
    )
    assert engineering.first_due == timedelta(0)


def test_the_sandbox_gets_a_demo_procedure_unless_the_team_has_one() -> None:
    fake = FakeSlack()
    demo = demo_procedure(IncidentConfig(), fake)
    assert [s.after for s in demo.matrix_for("SEV3")] == [
        timedelta(minutes=2),
        timedelta(minutes=4),
    ]
    [management] = demo.stakeholders_for("SEV1")
    assert management.first_due == timedelta(minutes=1)
    assert fake.channel_by_name("leadership") is not None
    own = load_config(EXAMPLE)
    assert demo_procedure(own, FakeSlack()) is own


def test_check_config_prints_the_procedure_or_the_failing_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.__main__ import main

    assert main(["check-config", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert f"{EXAMPLE}: valid" in out
    assert "SEV1 Critical: status update every 15 min, pages PagerDuty (ack within 15 min)" in out
    assert "    after 15 min: user group S0TEAMLEADS  # Team lead" in out
    (tmp_path / "stakeholders").mkdir()
    (tmp_path / "stakeholders" / "memo.j2").write_text("{{ incident.titel }}")
    config = write(
        tmp_path,
        f"templates_dir: {tmp_path}\nstakeholders:\n  SEV1:\n"
        "    - {audience: board, channel: board, every: 1h, template: memo}\n",
    )
    assert main(["check-config", str(config)]) == 1
    err = capsys.readouterr().err
    memo = tmp_path / "stakeholders" / "memo.j2"
    assert f"{config}:4: stakeholders.SEV1[0].template: {memo}:1 (rendering a sample" in err
    assert "'dict object' has no attribute 'titel'" in err


# -- the matrix's runs in the durable scheduler (fakeredis runs the scheduler's Lua) -------


async def _escalations_on_fakeredis() -> tuple[Escalations, Store, Incident]:
    import fakeredis

    from bot.core.schedule import Scheduler

    config = IncidentConfig.model_validate(
        {
            "escalation": {
                "matrix": {
                    "SEV1": [{"after": f"{n}m", "notify": [f"U0N{n}"]} for n in (1, 2, 3)],
                    "SEV2": [{"after": "1h", "notify": ["U0N1"]}],
                }
            }
        }
    )
    store = Store(fakeredis.FakeAsyncRedis(decode_responses=True))
    no_slack: Any = None  # the matrix only schedules: nothing is posted
    identity = Identity(store, no_slack, prefixes=(config.channel_prefix,))
    escalations = Escalations(
        store, no_slack, config, Scheduler(store), {}, None, identity=identity
    )
    declared = incident()
    await store.create(declared, TimelineEntry(at=0, actor=None, kind="declared", text="x"))
    return escalations, store, declared


async def _matrix_items(store: Store, incident_id: str) -> list[tuple[str, int]]:
    return sorted((i.key, i.generation) for i in await store.due_pending(incident_id))


async def test_a_stale_repair_never_wipes_the_run_its_listener_started() -> None:
    escalations, store, declared = await _escalations_on_fakeredis()
    stale = declared  # what a reconcile read before the listener ran: no run, generation 0

    def noted(inc: Incident) -> list[TimelineEntry]:  # another listener's timeline entry
        return [TimelineEntry(at=1, actor=None, kind="note", text="n")]

    fresh = await store.update(declared.id, noted)
    await escalations.start(fresh, since=fresh.declared_at)  # the declare listener
    started = await _matrix_items(store, declared.id)
    assert started == [("SEV1:0", 1), ("SEV1:1", 1), ("SEV1:2", 1)]
    await escalations._reconcile_one(stale)  # a repair that read the incident before
    assert await _matrix_items(store, declared.id) == started
    # a run scheduled from a stale read (generation 0) lands after the listener's: refused,
    # and the listener's steps stay
    await escalations._schedule_matrix(stale.model_copy(update={"escalation": fresh_state(fresh)}))
    assert await _matrix_items(store, declared.id) == started
    # a severity change: the new matrix replaces the old one's pending steps
    raised = await store.update(declared.id, lambda inc: _to(inc, "SEV2"))
    await escalations.start(raised, since=raised.declared_at + 60)
    assert await _matrix_items(store, declared.id) == [("SEV2:0", raised.generation)]


def _to(inc: Incident, severity: str) -> list[TimelineEntry]:
    inc.severity = severity
    return [TimelineEntry(at=2, actor=None, kind="severity", text=severity)]


def fresh_state(inc: Incident) -> EscalationState:
    return EscalationState(severity=inc.severity, since=inc.declared_at)

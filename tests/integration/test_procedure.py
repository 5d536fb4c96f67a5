"""A team's procedure as configuration, played like incidents at test scale (seconds): the
escalation matrix fires step by step, switches with the severity, stops on resolve and
survives a restart; a runbook's own escalation; stakeholder reminders and the drafted
update. Real app, real Redis, fake Slack over HTTP; times are Slack message timestamps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.core.config import IncidentConfig
from bot.core.models import Incident
from bot.escalations import RUNBOOK, STEP
from bot.fakes.slack import FakeSlack, Message
from bot.stakeholders import DUE as STAKEHOLDER_DUE
from tests.integration.harness import Harness, eventually, start

EPSILON = 0.01  # the fake's timestamps and the bot's clock are the same clock


@dataclass
class Workspace:
    fake: FakeSlack
    managers: str  # user group: Carol and Dave
    leadership: str  # channel ID
    config: IncidentConfig


def procedure(managers: str, leadership: str, runbooks_dir: Path | None = None) -> IncidentConfig:
    return IncidentConfig.model_validate(
        {
            "severities": [
                {"name": "SEV1", "label": "Critical", "update_every": "1h"},
                {"name": "SEV2", "label": "High", "update_every": "1h"},
                {"name": "SEV3", "label": "Medium", "update_every": "1h"},
            ],
            "roles": [
                "commander",
                "tech_lead",
                "comms_lead",
                "dba",
                {"name": "security_lead", "required_for": ["SEV1"]},
            ],
            "escalation": {
                "matrix": {
                    "SEV2": [
                        {"after": "1s", "notify": ["U0BOB"], "note": "Team lead"},
                        {"after": "3s", "notify": [managers], "note": "Engineering managers"},
                        {"after": "4s", "notify": [leadership], "note": "Leadership"},
                    ],
                    "SEV1": [
                        {"after": "1s", "notify": ["U0BOB"], "note": "Team lead"},
                        {"after": "2s", "notify": ["U0CAROL"], "note": "Director"},
                        {"after": "3s", "notify": [leadership, "U0DAVE"], "note": "CTO"},
                    ],
                }
            },
            "stakeholders": {
                "SEV3": [
                    {
                        "audience": "management",
                        "channel": leadership,
                        "every": "2s",
                        "template": "executive",
                    },
                    {
                        "audience": "status page",
                        "channel": "status-drafts",
                        "first": "1s",
                        "every": "1h",
                        "template": "status_page",
                    },
                ]
            },
            "scheduler": {"tick": 0.1, "retry": 0.1},
            "runbooks_dir": runbooks_dir,
        }
    )


async def workspace(runbooks_dir: Path | None = None) -> Workspace:
    fake = FakeSlack()
    await fake.start()
    everyone = list(fake.users)
    managers = fake.add_usergroup("eng-managers", ["U0CAROL", "U0DAVE"])["id"]
    leadership = fake.add_channel("leadership", members=everyone).id
    fake.add_channel("status-drafts", members=everyone)
    return Workspace(fake, managers, leadership, procedure(managers, leadership, runbooks_dir))


@pytest.fixture
async def ws() -> AsyncIterator[Workspace]:
    w = await workspace()
    yield w
    await w.fake.stop()


@pytest.fixture
async def h(redis_url: str, ws: Workspace) -> AsyncIterator[Harness]:
    harness = await start(redis_url, ws.config, fake=ws.fake)
    yield harness
    await harness.stop_bot()


def notices(fake: FakeSlack, incident: Incident) -> list[Message]:
    assert incident.channel_id
    return [m for m in fake.messages[incident.channel_id] if "*Escalation*" in m.text]


def dms(fake: FakeSlack, user: str) -> list[Message]:
    return [
        m
        for c in fake.channels.values()
        if c.is_im and c.members == {fake.bot_user_id, user}
        for m in fake.messages[c.id]
    ]


def posts(fake: FakeSlack, channel: str, needle: str) -> list[Message]:
    return [m for m in fake.messages[channel] if needle in m.text]


def at(m: Message) -> float:
    return float(m.ts)


async def pending(h: Harness, incident: Incident, *kinds: str) -> list[str]:
    items = await h.bot.services.scheduler.pending(incident.id)
    return [i.key for i in items if i.kind in kinds]


async def current(h: Harness, incident: Incident) -> Incident:
    return await h.incident(incident.id)


async def test_steps_fire_in_order_once_each_with_the_right_mentions(
    h: Harness, ws: Workspace
) -> None:
    incident = await h.declare("SEV2 Search is slow")
    await eventually(lambda: len(notices(h.fake, incident)) == 3)
    await eventually(lambda: _drained(h, incident, STEP))
    await h.settled()
    first, second, third = notices(h.fake, incident)
    assert at(first) >= incident.declared_at + 1 - EPSILON
    assert at(second) >= incident.declared_at + 3 - EPSILON
    assert at(third) >= incident.declared_at + 4 - EPSILON
    assert "*Team lead*" in first.text and "<@U0BOB>" in first.text
    assert f"<!subteam^{ws.managers}>" in second.text and "*Engineering managers*" in second.text
    assert f"posted in <#{ws.leadership}>" in third.text
    # the DM carries the incident link; the channel gets a post; each exactly once
    [dm] = dms(h.fake, "U0BOB")
    assert f"<#{incident.channel_id}>" in dm.text and incident.id in dm.text
    assert len(posts(h.fake, ws.leadership, "being pulled into incident")) == 1
    assert len(notices(h.fake, incident)) == 3
    timeline = [e.text for e in await h.store.timeline(incident.id) if e.kind == "escalation"]
    assert len(timeline) == 3
    assert "Team lead → <@U0BOB>" in timeline[0]
    # /incident escalations: three fired, with Slack date tokens
    await h.command("escalations", channel=incident.channel_id)
    [answer] = await eventually(lambda: [m for m in h.ephemerals() if "Escalations" in m.text])
    body = str(answer.blocks)
    assert body.count(":white_check_mark:") == 3 and "<!date^" in body


async def _drained(h: Harness, incident: Incident, *kinds: str) -> bool:
    return not await pending(h, incident, *kinds)


async def test_raising_severity_switches_matrix_without_repeating(
    h: Harness, ws: Workspace
) -> None:
    incident = await h.declare("SEV2 Payments failing")
    await eventually(lambda: len(notices(h.fake, incident)) == 1)  # team lead
    await h.command("severity SEV1", channel=incident.channel_id)
    raised = await eventually(lambda: _state(h, incident, "SEV1"))
    assert raised.escalation is not None
    since = raised.escalation.since
    await eventually(lambda: len(notices(h.fake, incident)) == 3)
    await eventually(lambda: _drained(h, incident, STEP))
    await h.settled()
    team, director, cto = notices(h.fake, incident)
    assert "*Team lead*" in team.text
    # SEV1's own team-lead step reached nobody new: skipped, not repeated
    assert "*Director*" in director.text and at(director) >= since + 2 - EPSILON
    assert "*CTO*" in cto.text and at(cto) >= since + 3 - EPSILON
    assert "<@U0DAVE>" in cto.text and f"<#{ws.leadership}>" in cto.text
    assert len(dms(h.fake, "U0BOB")) == 1
    assert len(dms(h.fake, "U0CAROL")) == 1 and len(dms(h.fake, "U0DAVE")) == 1
    # SEV2's later steps (managers at 3 s, leadership at 4 s) never fired
    assert not any(f"<!subteam^{ws.managers}>" in m.text for m in notices(h.fake, incident))
    final = await current(h, incident)
    assert final.escalation is not None
    skipped = [f for f in final.escalation.fired if f.skipped]
    assert [f.key for f in skipped] == ["matrix:SEV1:0"]
    # the card flags the security lead SEV1 requires
    card = h.fake.message(incident.channel_id or "", final.card_ts or "")
    assert card is not None and "needed for SEV1" in str(card.blocks)


async def _state(h: Harness, incident: Incident, severity: str) -> Incident | None:
    inc = await current(h, incident)
    state = inc.escalation
    return inc if state is not None and state.severity == severity else None


async def test_resolving_stops_the_matrix(h: Harness) -> None:
    resolved = await h.declare("SEV2 Login errors")
    await eventually(lambda: len(notices(h.fake, resolved)) == 1)
    await h.command("resolve rolled back", channel=resolved.channel_id)
    await eventually(lambda: _drained(h, resolved, STEP))
    await h.settled()
    # A step due before the resolve may still have fired (a loaded machine can be seconds
    # late with the first notice); none due after it ever does
    stored = await h.incident(resolved.id)
    assert stored.resolved_at is not None
    due = [resolved.declared_at + after for after in (1, 3, 4)]  # the SEV2 matrix above
    fired = len(notices(h.fake, resolved))
    assert 1 <= fired <= sum(1 for at in due if at < stored.resolved_at), fired
    sentinel = await h.declare("SEV2 Queue backlog")
    # the sentinel's last step is due after the resolved one's would have been
    await eventually(lambda: len(notices(h.fake, sentinel)) == 3)
    await h.settled()
    assert len(notices(h.fake, resolved)) == fired


async def test_a_restart_in_between_loses_nothing(redis_url: str, ws: Workspace) -> None:
    first = await start(redis_url, ws.config, fake=ws.fake)
    incident = await first.declare("SEV2 Checkout down")
    await eventually(lambda: len(notices(ws.fake, incident)) == 1)
    await first.stop_bot()
    assert len(await pending(first, incident, STEP)) == 2  # still in Redis
    second = await start(redis_url, ws.config, fake=ws.fake)
    try:
        await eventually(lambda: len(notices(ws.fake, incident)) == 3)
        await eventually(lambda: _drained(second, incident, STEP))
        await second.settled()
        assert len(notices(ws.fake, incident)) == 3
        assert len(dms(ws.fake, "U0BOB")) == 1
        fired = (await current(second, incident)).escalation
        assert fired is not None and len(fired.fired) == 3
    finally:
        await second.stop_bot()


DB_RUNBOOK = """
id: db-test
title: Test database down
escalate: {after: 1s, to: [dba, U0DAVE], note: Database lead}
phases:
  - id: symptoms
    steps:
      - text: Connections refused
"""


async def test_a_runbook_escalation_fires_only_where_the_runbook_runs(
    redis_url: str, tmp_path: Path
) -> None:
    (tmp_path / "db-test.yaml").write_text(DB_RUNBOOK)
    w = await workspace(tmp_path)
    h = await start(redis_url, w.config, fake=w.fake)
    try:
        running = await h.declare("SEV3 Orders database refuses connections")
        other = await h.declare("SEV3 Reports database slow")
        await h.command("role dba <@U0CAROL>", channel=running.channel_id)
        await eventually(lambda: _role(h, running, "dba"))
        await h.command("runbook db-test", channel=running.channel_id)
        await h.command("runbook high-latency", channel=other.channel_id)  # escalates at 20m
        [notice] = await eventually(lambda: notices(h.fake, running))
        runs = await h.store.incident_runs(running.id)
        run = await h.store.get_run(runs["db-test"])
        assert at(notice) >= run.posted_at + 1 - EPSILON
        assert "*Database lead*" in notice.text
        assert "<@U0CAROL>" in notice.text and "<@U0DAVE>" in notice.text
        await eventually(lambda: _drained(h, running, RUNBOOK))  # its deliveries are done
        await h.settled()
        assert len(dms(h.fake, "U0CAROL")) == 1
        assert notices(h.fake, other) == []
        assert await pending(h, other, RUNBOOK) == ["high-latency"]
        assert await pending(h, running, RUNBOOK) == []
    finally:
        await h.stop_bot()
        await w.fake.stop()


async def _role(h: Harness, incident: Incident, role: str) -> bool:
    return role in (await current(h, incident)).roles


async def test_stakeholder_reminders_draft_and_send(h: Harness, ws: Workspace) -> None:
    incident = await h.declare("SEV3 Checkout API returning errors")
    assert incident.channel_id
    await h.command("role comms_lead <@U0CAROL>", channel=incident.channel_id)
    await eventually(lambda: _role(h, incident, "comms_lead"))
    await h.command(
        "update Impact: 20% of checkouts fail; rolling back", channel=incident.channel_id
    )
    status = await eventually(lambda: _reminders(h, incident, "*status page*"))
    assert at(status[0]) >= incident.declared_at + 1 - EPSILON
    assert status[0].text.startswith("<@U0CAROL>")  # the comms lead is reminded
    [management] = await eventually(lambda: _reminders(h, incident, "*management*"))
    assert at(management) >= incident.declared_at + 2 - EPSILON
    assert "none sent yet" in management.text

    await h.fake.click("U0CAROL", incident.channel_id, management.ts, "stakeholder_draft")
    view_id = await eventually(lambda: next(iter(h.fake.views), None))
    view = h.fake.views[view_id]
    draft = next(b for b in view["blocks"] if b.get("block_id") == "text")
    text = draft["element"]["initial_value"]
    # the executive template, rendered with the incident's facts and its latest update
    assert text.startswith(f"*[SEV3] Production incident {incident.id}: Checkout API")
    assert "20% of checkouts fail" in text and "<@U0CAROL>" in text
    result = await h.fake.submit_view("U0CAROL", view_id, {})
    assert result.status == 200
    [sent] = await eventually(lambda: posts(h.fake, ws.leadership, "Production incident"))
    assert "20% of checkouts fail" in sent.text
    # posted first, then recorded: wait for the record
    [entry] = await eventually(lambda: _entries(h, incident, "stakeholder"))
    assert entry.text.startswith("Stakeholder update to management") and entry.actor == "U0CAROL"
    await eventually(
        lambda: posts(h.fake, incident.channel_id or "", "sent *management* an update")
    )
    # the audience's cadence restarts from the send: the next reminder is 2 s after it
    recorded = (await current(h, incident)).stakeholder_sent["management"]
    again = await eventually(lambda: _reminders(h, incident, "*management*")[1:])
    assert at(again[0]) >= recorded + 2 - EPSILON
    assert "last sent" in again[0].text
    assert await pending(h, incident, STAKEHOLDER_DUE)  # still running while open
    # resolved: the audience that heard about it is reminded once of the final update
    await h.command("resolve rolled back", channel=incident.channel_id)
    [final] = await eventually(lambda: _final(h, incident))
    assert "send *management* the final update" in final.text
    await eventually(lambda: _drained(h, incident, STAKEHOLDER_DUE))
    await h.settled()
    assert [m.text for m in _final(h, incident)] == [final.text]  # status page: never told


def _final(h: Harness, incident: Incident) -> list[Message]:
    assert incident.channel_id
    return [m for m in h.fake.messages[incident.channel_id] if "the final update" in m.text]


async def test_roles_and_procedure_commands(h: Harness) -> None:
    incident = await h.declare("SEV1 Card payments failing")
    await h.command("roles", channel=incident.channel_id)
    [roles] = await eventually(lambda: [m for m in h.ephemerals() if "Roles of" in m.text])
    body = str(roles.blocks)
    assert "*Commander*: <@U0ALICE>" in body
    assert "*Security Lead*: _empty_ :warning: required for SEV1" in body
    await h.command("procedure")  # outside an incident: every severity
    [every] = await eventually(
        lambda: [m for m in h.ephemerals() if "(SEV1, SEV2, SEV3)" in m.text]
    )
    assert "Team lead" in str(every.blocks)
    await h.command("procedure sev9")
    [wrong] = await eventually(lambda: [m for m in h.ephemerals() if "sev9" in m.text])
    assert "Unknown severity “sev9”; use SEV1, SEV2, SEV3." in wrong.text
    assert "/incident procedure [SEV1-4]" in wrong.text


def _reminders(h: Harness, incident: Incident, audience: str) -> list[Message]:
    assert incident.channel_id
    return [
        m
        for m in h.fake.messages[incident.channel_id]
        if audience in m.text and "is due an update" in m.text
    ]


async def test_steps_page_a_policy_or_a_schedule_and_resolving_resolves_them(
    redis_url: str,
) -> None:
    config = IncidentConfig.model_validate(
        {
            "severities": [{"name": "SEV3", "label": "Medium", "update_every": "1h"}],
            "escalation": {
                "matrix": {
                    "SEV3": [
                        {"after": "1s", "page": "PEP_MAIN", "note": "On-call policy"},
                        {"after": "1s", "page": "platform", "note": "Platform on-call"},
                    ]
                }
            },
            "pagerduty": {"service_id": "PSVC_MAIN", "schedules": {"platform": "PS_PLATFORM"}},
            "scheduler": {"tick": 0.1, "retry": 0.1},
        }
    )
    h = await start(redis_url, config, pagerduty=True)
    pd = h.pd
    assert pd is not None
    try:
        incident = await h.declare("Disk filling on the primary")
        epoch = (await h.store.install())["epoch"]
        key = f"incident-bot-{epoch}-{incident.id}-escalation-"

        def paged() -> list[dict[str, Any]]:
            found = [i for i in pd.incidents.values() if i["incident_key"].startswith(key)]
            return found if len(found) == 2 else []

        pages = await eventually(paged)
        by_key = {p["incident_key"].removeprefix(key): p for p in pages}
        # a policy is paged as the incident's escalation policy; a schedule (named in
        # pagerduty.schedules) by assigning whoever is on call in it now
        assert by_key["PEP_MAIN"]["escalation_policy"]["id"] == "PEP_MAIN"
        oncall = pd.schedules["PS_PLATFORM"].user_at(pd.now())
        assert [a["user"] for a in by_key["PS_PLATFORM"]["_assignments"]] == [oncall]
        await eventually(lambda: len(notices(h.fake, incident)) == 2)
        assert any("paging `PEP_MAIN` in PagerDuty" in m.text for m in notices(h.fake, incident))
        await h.command("resolve disk cleaned", channel=incident.channel_id)
        await eventually(lambda: all(p["status"] == "resolved" for p in pages))
    finally:
        await h.stop()


async def _entries(h: Harness, incident: Incident, kind: str) -> list[Any]:
    return [e for e in await h.store.timeline(incident.id) if e.kind == kind]

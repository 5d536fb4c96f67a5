"""Game-day drills at test scale (seconds): the real app, real Redis, fake Slack and fake
PagerDuty over HTTP. A scenario's alerts arrive on time through the alert path and attach
to the drill; nothing real is paged; the report's figures match the timeline; stats and
the normal metric labels leave the drill out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from blocks.drills import ACTION_ACK
from bot.core.config import IncidentConfig
from bot.core.durations import format_duration as span
from bot.core.models import Incident, RunbookRun, TimelineEntry
from bot.drills import STEP
from bot.fakes.pagerduty import FakePagerDuty
from bot.fakes.slack import FakeSlack, Message
from tests.integration.harness import Harness, eventually, start

TODAY = datetime.now(UTC).strftime("%Y%m%d")
EPSILON = 0.01  # the fake's message timestamps and the bot's clock are the same clock
# fast ×10: a scripted event at 10 s comes 1 s in. How late it may be is a machine's
# load, not the drill's: it must only come well before the unhurried clock's time
UNHURRIED = 10 / 2

RUNBOOK = """
id: drill-test
title: Drill test runbook
phases:
  - id: immediate
    steps:
      - text: Take incident commander
      - text: Say who is on it
  - id: investigation
    steps:
      - text: Find the slow dependency
"""

CHECKOUT = """
title: Checkout slow drill
severity: SEV2
runbook: drill-test
time_limit: 1m
targets: {acknowledge: 30s, first_update: 30s, immediate: 1s, investigation: 1m, resolve: 1m}
script:
  - at: 1s
    alert:
      alertname: HighLatency
      labels: {service: checkout}
      annotations: {summary: P95 above 3 s on checkout}
  - at: 2s
    message: Support reports slow checkouts
  - at: 50s
    message: A late inject that a resolved drill never plays
"""

QUICK = """
title: Quick drill
severity: SEV3
time_limit: 20s
targets: {resolve: 10s}
script:
  - at: 10s
    message: Halfway there
"""


def make_config(tmp_path: Path, **drills: Any) -> IncidentConfig:
    (tmp_path / "runbooks").mkdir(exist_ok=True)
    (tmp_path / "runbooks" / "drill-test.yaml").write_text(RUNBOOK)
    (tmp_path / "drills").mkdir(exist_ok=True)
    (tmp_path / "drills" / "checkout-drill.yaml").write_text(CHECKOUT)
    (tmp_path / "drills" / "quick.yaml").write_text(QUICK)
    return IncidentConfig.model_validate(
        {
            "severities": [
                {"name": "SEV1", "label": "Critical", "update_every": "1h", "page": True},
                {"name": "SEV2", "label": "High", "update_every": "1h", "page": True},
                {"name": "SEV3", "label": "Medium", "update_every": "2h"},
            ],
            # a real incident of a paging severity would page this service
            "pagerduty": {"service_id": "PSVC_MAIN", "escalation_policy_id": "PEP_MAIN"},
            "alerts": {"update_every": 0.2},
            "scheduler": {"tick": 0.1, "retry": 0.1},
            "postmortem": {"draft_on_resolve": False},
            "runbooks_dir": str(tmp_path / "runbooks"),
            "drills": {"scenarios_dir": str(tmp_path / "drills"), "fast": 10, **drills},
        }
    )


@pytest.fixture
async def h(redis_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    harness = await start(redis_url, make_config(tmp_path), pagerduty=True)
    yield harness
    await harness.stop()


async def start_drill(h: Harness, text: str, user: str = "U0ALICE") -> Incident:
    ack = await h.command(f"drill {text}", user=user)
    assert ack.status == 200
    channel = await eventually(
        lambda: next(
            (c.id for c in h.fake.channels.values() if c.name.startswith(f"drill-{TODAY}-")), None
        )
    )
    incident = await eventually(lambda: h.store.by_channel(channel))
    # the drill is set up once its notice is in the channel
    await eventually(lambda: said(h, incident, "Drill: "))
    return await h.incident(incident.id)


def said(h: Harness, incident: Incident, start: str) -> list[Message]:
    assert incident.channel_id
    return [m for m in h.fake.messages.get(incident.channel_id, []) if m.text.startswith(start)]


def metric(h: Harness, line: str) -> bool:
    body, _ = h.bot.services.metrics.render()
    return line in body.decode()


async def timeline(h: Harness, incident: Incident) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = await h.store.timeline(incident.id)
    return entries


def pd(h: Harness) -> FakePagerDuty:
    assert h.pd is not None
    return h.pd


async def test_a_drill_plays_its_script_through_the_alert_path_and_pages_nobody(
    h: Harness,
) -> None:
    incident = await start_drill(h, "checkout-drill")
    assert incident.drill is not None and incident.source == "drill"
    assert incident.channel_name == f"drill-{incident.id}-checkout-slow-drill"
    assert incident.commander is None  # taking command is part of the drill
    channel = incident.channel_id
    assert channel and "U0ALICE" in h.fake.channels[channel].members

    # marked DRILL: the card's banner, the announcement, the channel says no page went out
    card = await eventually(lambda: next((m for m in h.fake.messages[channel] if m.pinned), None))
    assert card.blocks[0]["text"]["text"].startswith("[DRILL] ") and "*DRILL*" in str(card.blocks)
    announced = h.fake.messages[h.channel("incidents")]
    assert [m.text for m in announced] == [
        f"SEV2 incident {incident.id}: [DRILL] Checkout slow drill (investigating)"
    ]
    [notice] = said(h, incident, "Drill: ")
    assert "*Drill: no real page sent*" in str(notice.blocks)

    # the script: the alert at 1 s, as the alert path shows an alert group in the channel
    group = await eventually(lambda: said(h, incident, "Alert HighLatency"))
    alert_at = float(group[0].ts) - incident.declared_at
    assert alert_at >= 1 - EPSILON, alert_at  # never early; how late is the machine's load
    assert "HighLatency" in group[0].text
    inject = await eventually(lambda: said(h, incident, "Scenario update: Support"))
    message_at = float(inject[0].ts) - incident.declared_at
    assert message_at >= 2 - EPSILON, message_at
    # no order between the two is asserted: each is due at its own offset (never early,
    # above), and the alert takes the alert path's extra hop, which a loaded machine can
    # make longer than the second between them
    assert metric(h, 'incident_bot_alerts_received_total{source="alertmanager"} 1.0')

    # the alert attached to the drill: no incident of its own, nothing in the announce channel
    await h.settled()
    assert [i.id for i in await h.store.recent_incidents()] == [incident.id]
    assert not [c for c in h.fake.channels.values() if c.name.startswith("inc-")]
    assert len(h.fake.messages[h.channel("incidents")]) == 1
    kinds = [(e.kind, e.text) for e in await timeline(h, incident)]
    assert ("drill", "Drill script: alert HighLatency firing") in kinds
    assert ("drill", "Drill script: Support reports slow checkouts") in kinds

    # nobody paged, and the declaration counted under source="drill"
    assert pd(h).incidents == {} and not pd(h).calls_to("POST", "/incidents")
    assert metric(h, 'incident_bot_incidents_declared_total{severity="SEV2",source="drill"} 1.0')
    assert (await h.incident(incident.id)).page is None


async def done(h: Harness, user: str, run: RunbookRun, step_id: str) -> None:
    ack = await h.fake.tick(user, run.channel, run.messages[0], step_id)
    assert ack.status == 200


async def commands(h: Harness, incident_id: str, user: str) -> bool:
    return (await h.incident(incident_id)).commander == user


def report_line(report: Message, name: str) -> str:
    lines = "\n".join(str(b.get("text", {}).get("text", "")) for b in report.blocks).splitlines()
    return next(line for line in lines if f"*{name}*" in line)


async def test_the_report_figures_match_the_timeline_and_stats_leave_the_drill_out(
    h: Harness,
) -> None:
    # a real incident alongside, resolved: the one stats must count
    await h.command("declare SEV3 Real search outage")
    real_channel = await eventually(
        lambda: next((c.id for c in h.fake.channels.values() if c.name.startswith("inc-")), None)
    )
    real = await eventually(lambda: h.store.by_channel(real_channel))
    await h.command("update Looking at it", user="U0BOB", channel=real_channel)
    await h.command("resolve Restarted", channel=real_channel)  # Alice, its commander

    incident = await start_drill(h, "checkout-drill")
    channel = incident.channel_id
    assert channel
    # Bob plays: acknowledges once the alert is in, updates and works the runbook once the
    # support message is in, then resolves
    await eventually(lambda: said(h, incident, "Alert HighLatency"))
    [notice] = said(h, incident, "Drill: ")
    await h.fake.click("U0BOB", channel, notice.ts, ACTION_ACK, value=incident.id)
    await eventually(lambda: said(h, incident, ":white_check_mark: <@U0BOB> acknowledged"))
    again = await h.fake.click("U0CAROL", channel, notice.ts, ACTION_ACK, value=incident.id)
    assert again.status == 200
    await eventually(lambda: [m for m in h.ephemerals("U0CAROL") if "already" in m.text])

    await eventually(lambda: said(h, incident, "Scenario update: Support"))
    await h.command(
        "update Checkout latency is from the payment call", user="U0BOB", channel=channel
    )
    runs = await eventually(lambda: h.store.incident_runs(incident.id))
    run = await h.store.get_run(runs["drill-test"])
    await done(h, "U0BOB", run, "p1-s1")
    await done(h, "U0BOB", run, "p1-s2")
    # nobody commands a drill at first: Bob takes command, then may resolve
    await h.command("commander <@U0BOB>", user="U0BOB", channel=channel)
    await eventually(lambda: commands(h, incident.id, "U0BOB"))
    await h.command("resolve Payment provider fixed it", user="U0BOB", channel=channel)

    [report] = await eventually(lambda: said(h, incident, "Drill report for"))
    await h.settled()
    entries = await timeline(h, incident)
    start_at = incident.declared_at

    def first(kind: str) -> float:
        return next(e.at for e in entries if e.kind == kind) - start_at

    steps = [e.at for e in entries if e.kind == "runbook_step"]
    assert len(steps) == 2
    ack, update, resolve = first("drill_ack"), first("update"), first("resolved")
    assert 1 <= ack < update  # acknowledged after the alert, before the update
    assert report_line(report, "Acknowledge") == (
        f":white_check_mark: *Acknowledge* · {span(ack)} · target 30 s · drill page acknowledged"
    )
    assert report_line(report, "First update") == (
        f":white_check_mark: *First update* · {span(update)} · target 30 s"
    )
    # the immediate phase's target (1 s) was missed; investigation never finished
    assert report_line(report, "Immediate actions (first 5 minutes)") == (
        f":x: *Immediate actions (first 5 minutes)* · {span(max(steps) - start_at)} · target 1 s"
    )
    assert report_line(report, "Investigation") == ":x: *Investigation* · not done · target 1 min"
    assert report_line(report, "Resolve") == (
        f":white_check_mark: *Resolve* · {span(resolve)} · target 1 min"
    )
    assert "Drill script: Support reports slow checkouts" in str(report.blocks)
    # the late inject was dropped with the rest of the script
    pending = await h.bot.services.scheduler.pending(incident.id)
    assert not [i for i in pending if i.kind == STEP]
    assert not said(h, incident, "Scenario update: A late")

    # the announcement says it is over, still marked
    assert "[DRILL]" in h.fake.messages[h.channel("incidents")][-1].text

    # stats and MTTA/MTTR: only the real incident
    stats = h.bot.services.stats
    assert stats is not None
    numbers = await stats.report(86400)
    assert [t.incident_id for t in numbers.incidents] == [real.id]
    assert numbers.total.declared == 1 and numbers.total.resolved == 1
    assert metric(h, 'incident_bot_time_to_resolve_seconds_count{severity="SEV3"} 1.0')
    assert not metric(h, 'incident_bot_time_to_resolve_seconds_count{severity="SEV2"}')
    assert metric(h, 'incident_bot_incidents_declared_total{severity="SEV3",source="slack"} 1.0')
    assert metric(h, 'incident_bot_incidents_declared_total{severity="SEV2",source="drill"} 1.0')


async def test_fast_runs_the_clock_faster_and_the_time_limit_ends_the_drill(h: Harness) -> None:
    incident = await start_drill(h, "quick fast")
    assert incident.drill is not None
    assert (incident.drill.speed, incident.drill.time_limit) == (10, 2)
    assert incident.drill.targets == {"resolve": 1}
    inject = await eventually(lambda: said(h, incident, "Scenario update: Halfway"))
    assert 1 - EPSILON <= float(inject[0].ts) - incident.declared_at < 1 * UNHURRIED

    async def ended() -> Incident | None:
        current = await h.incident(incident.id)
        return None if current.is_open else current

    over = await eventually(ended)
    assert over.drill is not None and over.drill.ended_by == "time_limit"
    assert over.resolved_at is not None
    assert 2 - EPSILON <= over.resolved_at - incident.declared_at < 2 * UNHURRIED
    assert float(inject[0].ts) < over.resolved_at
    [report] = await eventually(lambda: said(h, incident, "Drill report for"))
    assert "time limit reached" in report.text and "fast ×10" in str(report.blocks)
    assert report_line(report, "Resolve") == (
        ":x: *Resolve* · not done · target 1 s · time limit reached"
    )
    # SEV3 does not page, and no drill service: no page either way
    assert pd(h).incidents == {}


async def test_the_drill_service_gets_the_only_page(redis_url: str, tmp_path: Path) -> None:
    fake_pd = FakePagerDuty(webhook_secret="whsec-test")
    fake_pd.add_service("PSVC_DRILL", "Game days", "PEP_MAIN")
    config = make_config(tmp_path, pagerduty_service_id="PSVC_DRILL")
    h = await start(redis_url, config, pagerduty=fake_pd)
    try:
        incident = await start_drill(h, "checkout-drill")
        [notice] = said(h, incident, "Drill: ")
        assert "only to the drill PagerDuty service `PSVC_DRILL`" in str(notice.blocks)
        [paged] = await eventually(lambda: list(fake_pd.incidents.values()))
        assert paged["service"]["id"] == "PSVC_DRILL"
        assert "[DRILL]" in paged["title"]
        await eventually(lambda: said(h, incident, ":rotating_light: Paged"))
        # a real incident still pages the real service
        await h.command("declare SEV2 Real checkout outage")
        await eventually(lambda: len(fake_pd.incidents) == 2)
        await h.settled()
        services = sorted(i["service"]["id"] for i in fake_pd.incidents.values())
        assert services == ["PSVC_DRILL", "PSVC_MAIN"]
        assert sum("[DRILL]" in i["title"] for i in fake_pd.incidents.values()) == 1
    finally:
        await h.stop()


async def test_a_restart_loses_no_step_of_the_script(redis_url: str, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    fake = FakeSlack()
    await fake.start()
    first = await start(redis_url, config, fake=fake)
    second = None
    try:
        incident = await start_drill(first, "checkout-drill")

        async def scripted() -> bool:
            drill = (await first.incident(incident.id)).drill
            return drill is not None and drill.scripted

        await eventually(scripted)
        await first.stop_bot()
        pending = await first.store.due_pending(incident.id)
        assert sorted(i.key for i in pending if i.kind == STEP) == ["0", "1", "2"]
        second = await start(redis_url, config, fake=fake)
        inject = await eventually(lambda: said(second, incident, "Scenario update: Support"))
        assert float(inject[0].ts) - incident.declared_at >= 2 - EPSILON
        await eventually(lambda: said(second, incident, "Alert HighLatency"))
        await second.settled()
        assert len(said(second, incident, "Scenario update: Support")) == 1
    finally:
        if second is not None:
            await second.stop_bot()
        await fake.stop()


async def test_drill_usage_and_the_list(h: Harness) -> None:
    await h.command("drill")
    listing = await eventually(lambda: [m for m in h.ephemerals() if "drill scenarios" in m.text])
    text = str(listing[0].blocks)
    for scenario in ("checkout-drill", "quick", "latency-spike", "partner-api-down"):
        assert f"`{scenario}`" in text
    await h.command("drill nope")
    await eventually(lambda: [m for m in h.ephemerals() if "No drill scenario “nope”" in m.text])
    await h.command("drill quick slow")
    await eventually(lambda: [m for m in h.ephemerals() if "optionally `fast`" in m.text])
    await h.settled()
    assert not [c for c in h.fake.channels.values() if c.name.startswith("drill-")]
    # the list's Start fast button starts one
    await h.fake.click(
        "U0ALICE",
        listing[0].channel,
        listing[0].ts,
        "drill_start_fast:quick",
        value="quick",
    )
    started = await eventually(
        lambda: [m for m in h.ephemerals() if "Drill" in m.text and "started" in m.text]
    )
    assert "[DRILL]" in started[0].text

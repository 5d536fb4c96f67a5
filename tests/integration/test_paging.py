"""Paging and automatic escalation, end to end: the real app pages the fake PagerDuty over
HTTP, which answers, escalates and sends signed v3 webhooks back to /webhooks/pagerduty."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from bot.core.config import IncidentConfig
from bot.core.models import PAGE_ACKNOWLEDGED, DueItem, Incident, PageState
from bot.fakes.pagerduty import FakePagerDuty
from bot.fakes.slack import Message
from tests.integration.harness import Harness, eventually, start


def config(ack_timeout: str = "1s", service: str = "PSVC_MAIN") -> IncidentConfig:
    return IncidentConfig.model_validate(
        {
            "severities": [
                {"name": "SEV1", "label": "Critical", "update_every": "1h", "page": True},
                {"name": "SEV2", "label": "High", "update_every": "1h", "page": True},
                {"name": "SEV3", "label": "Medium", "update_every": "2h"},
            ],
            "escalation": {"ack_timeout": ack_timeout},
            "pagerduty": {"service_id": service, "escalation_policy_id": "PEP_MAIN"},
            "scheduler": {"tick": 0.1, "retry": 0.1},
        }
    )


SLACK_BY_PD = {"PU_ALICE": "<@U0ALICE>", "PU_BOB": "<@U0BOB>", "PU_CAROL": "<@U0CAROL>"}
SLACK_BY_PD |= {"PU_DAVE": "<@U0DAVE>", "PU_ERIN": "Erin Example"}  # Erin is not on Slack


def oncall(pd: FakePagerDuty, level: int) -> str:
    """Who the fake has on call at `level` of the policy now, as the bot should say it."""
    return ", ".join(SLACK_BY_PD[u] for u in pd._oncall_users("PEP_MAIN", level, pd.now()))


@pytest.fixture
async def h(redis_url: str) -> AsyncIterator[Harness]:
    harness = await start(redis_url, config(), pagerduty=True)
    yield harness
    await harness.stop()


@pytest.fixture
async def slow(redis_url: str) -> AsyncIterator[Harness]:
    """Acknowledgement timeout long enough that only what the test does escalates."""
    harness = await start(redis_url, config("1h"), pagerduty=True)
    yield harness
    await harness.stop()


async def declare(h: Harness, text: str = "SEV1 Checkout API returning 500s") -> Incident:
    await h.command(f"declare {text}")
    return await declare_seen(h)


async def declare_seen(h: Harness) -> Incident:
    """The declared incident, once its channel is made."""
    channel = await eventually(
        lambda: next((c for c, ch in h.fake.channels.items() if ch.name.startswith("inc-")), None)
    )
    return await eventually(lambda: h.store.by_channel(channel))


def said(h: Harness, incident: Incident, check: Callable[[str], bool]) -> list[Message]:
    assert incident.channel_id
    return [m for m in h.fake.messages[incident.channel_id] if check(m.text)]


async def paged(h: Harness, incident: Incident) -> PageState:
    async def state() -> PageState | None:
        current = await h.store.get(incident.id)
        page = current.page if current else None
        return page if page and page.pd_incident_id else None

    return await eventually(state)


async def timers(h: Harness, incident: Incident) -> list[DueItem]:
    """The incident's pending paging due-items (not its update reminders, nor what comes
    after the incident: the post-mortem draft and reminder)."""
    pending = await h.bot.services.scheduler.pending(incident.id)
    return [i for i in pending if i.lane != "cadence" and not i.kind.startswith("postmortem_")]


async def timeline(h: Harness, incident: Incident) -> list[str]:
    """The page's entries: paged, escalated, acknowledged, failed..."""
    entries = await h.store.timeline(incident.id)
    return [e.text for e in entries if e.kind in ("page", PAGE_ACKNOWLEDGED)]


def pd(h: Harness) -> FakePagerDuty:
    assert h.pd is not None
    return h.pd


async def test_declaring_a_sev1_pages_once_and_says_who(h: Harness) -> None:
    incident = await declare(h)
    await eventually(lambda: said(h, incident, lambda t: "Paged" in t))
    await h.settled()
    [message] = said(h, incident, lambda t: "Paged" in t)
    assert message.text == f":rotating_light: Paged Backend API on-call: {oncall(pd(h), 1)}"
    [pd_incident] = pd(h).incidents.values()
    epoch = (await h.store.install())["epoch"]  # never a key an earlier install used
    assert pd_incident["incident_key"] == f"incident-bot-{epoch}-{incident.id}"
    assert pd_incident["service"]["id"] == "PSVC_MAIN"
    assert pd_incident["escalation_policy"]["id"] == "PEP_MAIN"
    assert pd_incident["title"] == "[SEV1] Checkout API returning 500s"
    page = await paged(h, incident)
    assert (page.status, page.level, page.pd_number) == ("triggered", 1, 1)
    entries = await eventually(lambda: timeline(h, incident))
    assert entries[0] == "Paging PagerDuty"


async def test_a_page_recorded_before_its_channel_is_said_once_by_the_set_up(h: Harness) -> None:
    """The page goes out while Slack is still making the channel: the page's handler has
    nowhere to say it, so the set-up says who was paged once it has made the channel."""
    making = h.fake.hold("conversations.create")
    await h.command("declare SEV1 Checkout API returning 500s")
    await making.arrived.wait()

    async def recorded() -> Incident | None:
        found = await h.store.open_incidents(limit=1)
        page = found[0].page if found else None
        return found[0] if page is not None and page.paged_at is not None else None

    incident = await eventually(recorded)
    assert incident.page is not None and not incident.page.page_tells
    making.release()
    incident = await declare_seen(h)
    await eventually(lambda: said(h, incident, lambda t: "Paged" in t))
    await h.settled()
    [message] = said(h, incident, lambda t: "Paged" in t)
    assert message.text == f":rotating_light: Paged Backend API on-call: {oncall(pd(h), 1)}"


async def test_no_acknowledgement_escalates_level_by_level_to_the_last(h: Harness) -> None:
    incident = await declare(h)
    page = await paged(h, incident)
    last = await eventually(lambda: said(h, incident, lambda t: "last level" in t))
    await h.settled()
    escalations = said(h, incident, lambda t: "escalated to level" in t)
    assert [m.text for m in escalations] == [
        f":arrow_double_up: No acknowledgement in 1 s: escalated to level 2, {oncall(pd(h), 2)}",
        f":arrow_double_up: No acknowledgement in 1 s: escalated to level 3, {oncall(pd(h), 3)}",
    ]
    # the acknowledgement clock starts when PagerDuty answered the page (the "Paged" notice
    # in the channel may come later, after the set-up)
    assert page.paged_at is not None
    assert float(escalations[0].ts) >= page.paged_at + 1
    assert float(escalations[1].ts) >= float(escalations[0].ts) + 1
    assert "nobody further to escalate to" in last[0].text
    [pd_incident] = pd(h).incidents.values()
    assert pd_incident["escalation_level"] == 3
    assert [
        c.body["incident"]["escalation_level"] for c in pd(h).calls_to("PUT", "/incidents")
    ] == [2, 3]
    entries = await timeline(h, incident)
    assert entries[-2:] == [
        f"Escalated to level 2: {oncall(pd(h), 2)}",
        f"Escalated to level 3: {oncall(pd(h), 3)}",
    ]


async def test_a_signed_acknowledgement_stops_the_escalation(slow: Harness) -> None:
    h = slow
    incident = await declare(h)
    page = await paged(h, incident)
    assert page.pd_incident_id

    async def only_escalation_pending() -> bool:
        # the page item finishes just after it records the PagerDuty incident
        return [i.kind for i in await timers(h, incident)] == ["escalate"]

    await eventually(only_escalation_pending)
    await pd(h).acknowledge(page.pd_incident_id, "PU_BOB")
    assert pd(h).webhook_deliveries[-1] == ("incident.acknowledged", 200)
    [note] = await eventually(lambda: said(h, incident, lambda t: "acknowledged the page" in t))
    assert note.text == ":white_check_mark: Bob Example acknowledged the page in PagerDuty."
    assert "Acknowledged in PagerDuty by Bob Example" in await timeline(h, incident)
    # recorded as what it is, for the response numbers (bot/stats.py) to read
    acks = [e for e in await h.store.timeline(incident.id) if e.kind == PAGE_ACKNOWLEDGED]
    assert [e.text for e in acks] == ["Acknowledged in PagerDuty by Bob Example"]
    # the acknowledgement timer is gone, so nothing can escalate it any more
    await h.settled()
    assert await timers(h, incident) == []
    # the same webhook delivered again changes nothing
    status = await pd(h).send_webhook("incident.acknowledged", page.pd_incident_id, agent="PU_BOB")
    assert status == 200
    await h.settled()
    assert len(said(h, incident, lambda t: "acknowledged the page" in t)) == 1


async def test_acknowledged_before_the_timeout_never_escalates(redis_url: str) -> None:
    h = await start(redis_url, config("2s"), pagerduty=True)
    try:
        incident = await declare(h)
        page = await paged(h, incident)
        assert page.pd_incident_id
        await pd(h).acknowledge(page.pd_incident_id, "PU_BOB")
        await eventually(lambda: said(h, incident, lambda t: "acknowledged the page" in t))
        # a second incident, paged later, escalates: by then the first one would have too
        await h.command("declare SEV2 Search is slow")
        second = await eventually(
            lambda: next((i for i in pd(h).incidents.values() if "Search" in i["title"]), None)
        )
        await eventually(lambda: second["escalation_level"] == 2)
        await h.settled()
        assert pd(h).incidents[page.pd_incident_id]["escalation_level"] == 1
        assert said(h, incident, lambda t: "escalated" in t) == []
    finally:
        await h.stop()


@pytest.mark.parametrize("signature", ["wrong-secret", None])
async def test_a_bad_signature_gets_401_and_changes_nothing(
    slow: Harness, signature: str | None
) -> None:
    h = slow
    incident = await declare(h)
    page = await paged(h, incident)
    assert page.pd_incident_id
    body = pd(h).webhook_payload("incident.acknowledged", page.pd_incident_id, agent="PU_BOB")
    headers = {"Content-Type": "application/json"}
    if signature:
        headers["X-PagerDuty-Signature"] = "v1=" + "0" * 64
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{h.url}/webhooks/pagerduty", json=body, headers=headers) as r,
    ):
        assert r.status == 401
    status = await pd(h).send_webhook(
        "incident.acknowledged", page.pd_incident_id, sign_with="not-the-secret"
    )
    assert status == 401
    await h.settled()
    assert (await paged(h, incident)).status == "triggered"


async def test_without_a_webhook_secret_the_route_is_404(redis_url: str) -> None:
    h = await start(redis_url)
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{h.url}/webhooks/pagerduty", json={"event": {}}) as r,
        ):
            assert r.status == 404
    finally:
        await h.stop()


async def test_pagerduty_failing_three_times_then_ok_pages_once(h: Harness) -> None:
    pd(h).fail("/incidents", status=500, times=3, method="POST")
    incident = await declare(h)
    await eventually(lambda: said(h, incident, lambda t: "Paged" in t))
    await h.settled()
    assert [c.status for c in pd(h).calls_to("POST", "/incidents")] == [500, 500, 500, 201]
    assert len(pd(h).incidents) == 1
    [warning] = said(h, incident, lambda t: "failed 3 times" in t)
    assert "HTTP 500" in warning.text and "still retrying" in warning.text
    assert len(said(h, incident, lambda t: "Paged" in t)) == 1


async def test_a_page_that_cannot_succeed_is_reported(redis_url: str) -> None:
    bad = config(service="PSVC_NOPE")
    h = await start(redis_url, bad, pagerduty=True)
    try:
        incident = await declare(h)
        [failed] = await eventually(lambda: said(h, incident, lambda t: "will not be retried" in t))
        assert "HTTP 404" in failed.text or "HTTP 400" in failed.text
        current = await h.store.get(incident.id)
        assert current and current.page and current.page.status == "failed"
    finally:
        await h.stop()


async def test_escalate_command_escalates_at_once(slow: Harness) -> None:
    h = slow
    incident = await declare(h)
    await paged(h, incident)
    await h.command("escalate", user="U0CAROL", channel=incident.channel_id)
    [note] = await eventually(lambda: said(h, incident, lambda t: "escalated the page" in t))
    assert (
        note.text
        == f":arrow_double_up: <@U0CAROL> escalated the page to level 2, {oncall(pd(h), 2)}"
    )
    [pd_incident] = pd(h).incidents.values()
    assert pd_incident["escalation_level"] == 2
    await h.settled()  # PagerDuty reports our escalation back: not news
    assert len(said(h, incident, lambda t: "escalated" in t)) == 1
    # the acknowledgement clock restarted at the new level
    [timer] = await timers(h, incident)
    assert (timer.kind, timer.payload["from_level"]) == ("escalate", 2)


async def test_escalate_without_a_page_says_why(slow: Harness) -> None:
    h = slow
    incident = await declare(h, "SEV3 Disk filling up")
    await h.command("escalate", channel=incident.channel_id)
    reply = await eventually(
        lambda: [m for m in h.ephemerals() if "no open PagerDuty page" in m.text]
    )
    assert "/incident severity SEV1" in reply[0].text


async def test_raising_to_a_paging_severity_pages(slow: Harness) -> None:
    h = slow
    incident = await declare(h, "SEV3 Disk filling up")
    assert not pd(h).incidents
    await h.command("severity SEV2", channel=incident.channel_id)
    await eventually(lambda: said(h, incident, lambda t: "Paged" in t))
    assert len(pd(h).incidents) == 1
    # raising further does not page twice
    await h.command("severity SEV1", channel=incident.channel_id)
    await eventually(lambda: _severity(h, incident, "SEV1"))
    await h.settled()
    assert len(pd(h).incidents) == 1


async def test_resolving_resolves_the_pagerduty_incident(slow: Harness) -> None:
    h = slow
    incident = await declare(h)
    page = await paged(h, incident)
    assert page.pd_incident_id
    await h.command("resolve Rolled back", channel=incident.channel_id)
    await eventually(lambda: pd(h).incidents[page.pd_incident_id]["status"] == "resolved")
    await eventually(lambda: _has(h, incident, "Resolved the PagerDuty incident"))
    await h.settled()  # the resolve's due-item finished, PagerDuty's webhooks delivered
    entries = await timeline(h, incident)
    assert not any(e.startswith("Resolved in PagerDuty") for e in entries)  # our own echo
    assert pd(h).incidents[page.pd_incident_id]["_resolution"] == "Rolled back"
    assert await timers(h, incident) == []


async def test_a_resolve_in_pagerduty_shows_on_the_timeline(slow: Harness) -> None:
    h = slow
    incident = await declare(h)
    page = await paged(h, incident)
    assert page.pd_incident_id
    await pd(h).resolve_as_user(page.pd_incident_id, "PU_BOB")
    await eventually(lambda: _has(h, incident, "Resolved in PagerDuty by Bob Example"))
    await h.settled()
    [note] = said(h, incident, lambda t: "resolved in PagerDuty" in t)
    assert "stays open" in note.text
    current = await h.store.get(incident.id)
    assert current and current.is_open


async def test_without_webhooks_acknowledgements_are_polled(redis_url: str) -> None:
    h = await start(redis_url, config("3s"), pagerduty=True, pagerduty_webhook_secret=None)
    try:
        incident = await declare(h)
        page = await paged(h, incident)
        assert page.pd_incident_id
        await pd(h).acknowledge(page.pd_incident_id, "PU_BOB")
        # the fake's webhook finds no route (404); the poll (every 1 s here) sees it
        await eventually(lambda: _has(h, incident, "Acknowledged in PagerDuty by Bob Example"))
        assert ("incident.acknowledged", 404) in pd(h).webhook_deliveries
        await h.settled()
        assert pd(h).incidents[page.pd_incident_id]["escalation_level"] == 1
    finally:
        await h.stop()


async def test_without_pagerduty_the_channel_says_paging_is_off(redis_url: str) -> None:
    h = await start(redis_url, config())
    try:
        incident = await declare(h)
        [note] = await eventually(lambda: said(h, incident, lambda t: "Paging is off" in t))
        assert "PAGERDUTY_API_KEY" in note.text
        await h.command("escalate", channel=incident.channel_id)
        reply = await eventually(lambda: [m for m in h.ephemerals() if "Paging is off" in m.text])
        assert reply
    finally:
        await h.stop()


async def _has(h: Harness, incident: Incident, text: str) -> bool:
    return text in await timeline(h, incident)


async def _severity(h: Harness, incident: Incident, severity: str) -> Any:
    current = await h.store.get(incident.id)
    return current if current and current.severity == severity else None


async def test_a_reopened_incident_is_paged_again(slow: Harness) -> None:
    h = slow
    incident = await declare(h)
    first = await paged(h, incident)
    await h.command("resolve Looked fixed", channel=incident.channel_id)
    await eventually(lambda: pd(h).incidents[first.pd_incident_id]["status"] == "resolved")
    resolved = await h.incident(incident.id)
    await h.bot.services.incidents.reopen(resolved, by="U0ALICE", reason="it fired again")

    async def second_page() -> str | None:
        current = await h.store.get(incident.id)
        page = current.page if current else None
        if page and page.pd_incident_id and page.pd_incident_id != first.pd_incident_id:
            return page.pd_incident_id
        return None

    again = await eventually(second_page)
    assert pd(h).incidents[again]["status"] == "triggered"
    await eventually(
        lambda: len(said(h, incident, lambda t: t.startswith(":rotating_light: Paged"))) == 2
    )


async def test_reopened_while_its_page_is_being_resolved_it_is_paged_again(slow: Harness) -> None:
    h = slow
    incident = await declare(h)
    first = await paged(h, incident)

    async def reopen_meanwhile(event: str, _: dict[str, Any]) -> None:
        # inside PagerDuty's answer to the bot's resolve: the bot has not recorded it yet
        if event == "incident_resolved":
            resolved = await h.incident(incident.id)
            await h.bot.services.incidents.reopen(resolved, by="U0ALICE", reason="fired again")

    pd(h).subscribe(reopen_meanwhile)
    await h.command("resolve Looked fixed", channel=incident.channel_id)

    async def second_page() -> str | None:
        page = (await h.incident(incident.id)).page
        if page and page.pd_incident_id and page.pd_incident_id != first.pd_incident_id:
            return page.pd_incident_id
        return None

    again = await eventually(second_page)
    assert pd(h).incidents[first.pd_incident_id]["status"] == "resolved"
    assert pd(h).incidents[again]["status"] == "triggered"


async def test_resolved_while_its_page_is_on_its_way_the_pagerduty_incident_is_resolved(
    slow: Harness,
) -> None:
    """Resolved between PagerDuty opening the incident and the bot hearing back: the page
    is recorded on a resolved incident, and its PagerDuty incident is resolved too."""
    h = slow
    opened: list[str] = []

    async def resolve_meanwhile(event: str, pd_incident: dict[str, Any]) -> None:
        # inside PagerDuty's answer to the bot's page: the bot has not recorded it yet
        if event == "incident_triggered" and not opened:
            opened.append(pd_incident["id"])
            [incident] = await h.store.open_incidents(limit=1)
            await h.bot.services.incidents.resolve(incident, by="U0ALICE", summary="Oops")

    pd(h).subscribe(resolve_meanwhile)
    await h.command("declare SEV1 Checkout API returning 500s")
    await eventually(lambda: opened)
    await eventually(lambda: pd(h).incidents[opened[0]]["status"] == "resolved")
    await h.settled()
    [incident] = await h.store.recent_incidents(limit=1)
    assert not incident.is_open and incident.page is not None
    assert incident.page.pd_incident_id == opened[0]

"""Alerts come from machines: in an alert channel only what a bot or app posts declares,
resolves or reopens, and with `from:` only the listed ones. Played over the wire: the
fake Slack delivers each message event as Slack does (a person's, an app's with bot_id,
app_id and bot_profile, a classic integration's `bot_message`) to the real app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.core.config import IncidentConfig
from bot.core.models import Incident
from bot.fakes.slack import APP_ID, BOT_ID, FakeSlack
from tests.integration.harness import Harness, eventually, metric, start

FIRING = "[FIRING:1] DatabaseDown db\n*Summary:* the database refuses connections"
RESOLVED = "[RESOLVED] DatabaseDown db"


def config(channel: Any = "alerts") -> IncidentConfig:
    return IncidentConfig.model_validate(
        {
            "alerts": {
                "channels": [channel],
                "update_every": 0.2,
                "rules": [
                    {"alertname": "DatabaseDown", "severity": "SEV1"},
                    {"alertname": "HighCPU", "severity": "SEV3"},
                ],
            },
            "pagerduty": {"service_id": "PSVC_MAIN", "escalation_policy_id": "PEP_MAIN"},
            "escalation": {"ack_timeout": "1h"},
            "scheduler": {"tick": 0.1, "retry": 0.1},
        }
    )


@pytest.fixture
async def h(redis_url: str) -> AsyncIterator[Harness]:
    harness = await start(redis_url, config(), pagerduty=True)
    yield harness
    await harness.stop()


async def wait_ignored(h: Harness, reason: str, count: int) -> None:
    async def reached() -> bool:
        return (
            await metric(h.url, "incident_bot_alert_payloads_rejected_total", reason=reason)
            == count
        )

    await eventually(reached, timeout=10)
    await eventually(h.bot.services.alerts.settled, timeout=10)


async def incidents(h: Harness) -> list[Incident]:
    return list(await h.store.recent_incidents())


async def declared(h: Harness, alertname: str) -> Incident:
    async def find() -> Incident | None:
        return next((i for i in await incidents(h) if i.alertname == alertname), None)

    return await eventually(find, timeout=10)


async def test_a_person_typing_an_alert_declares_nothing_and_pages_nobody(h: Harness) -> None:
    assert h.pd is not None
    await h.fake.post_message("U0ALICE", "alerts", FIRING)
    await wait_ignored(h, "not_a_bot", 1)
    assert await incidents(h) == [] and h.pd.incidents == {}
    assert await h.store.alerts_backlog() == 0

    # the same words from Alertmanager's app declare the SEV1, and page
    alertmanager = h.fake.add_bot("Alertmanager")
    await h.fake.post_as_bot(alertmanager, "alerts", FIRING)
    inc = await declared(h, "DatabaseDown")
    assert inc.severity == "SEV1"
    await eventually(lambda: len(h.pd.incidents) == 1, timeout=10)  # type: ignore[union-attr]


async def test_a_person_cannot_quiet_or_reopen_a_real_alert_incident(h: Harness) -> None:
    alertmanager = h.fake.add_bot("Alertmanager")
    await h.fake.post_as_bot(alertmanager, "alerts", FIRING)
    inc = await declared(h, "DatabaseDown")

    await h.fake.post_message("U0BOB", "alerts", RESOLVED)
    await wait_ignored(h, "not_a_bot", 1)
    assert (await h.incident(inc.id)).status == "investigating"

    # the machine's resolve moves it to monitoring; a person's "firing" does not undo that
    await h.fake.post_as_bot(alertmanager, "alerts", RESOLVED)
    await eventually(lambda: _status(h, inc, "monitoring"), timeout=10)
    await h.fake.post_message("U0BOB", "alerts", FIRING)
    await wait_ignored(h, "not_a_bot", 2)
    assert (await h.incident(inc.id)).status == "monitoring"


async def _status(h: Harness, inc: Incident, status: str) -> bool:
    return (await h.incident(inc.id)).status == status


async def test_a_classic_integrations_bot_message_is_read(h: Harness) -> None:
    legacy = h.fake.add_bot("alertmanager-webhook", app=False)
    message = await h.fake.post_as_bot(legacy, "alerts", "[FIRING:1] HighCPU web")
    shown = h.fake.serialize_message(message)
    assert shown["subtype"] == "bot_message" and "user" not in shown
    assert (await declared(h, "HighCPU")).severity == "SEV3"


async def test_the_bots_own_posts_are_never_read(h: Harness) -> None:
    # The bot's own message event (Bolt drops the ones with its bot_id) and one its app
    # posted through another way in (same app, another bot_id): neither is an alert.
    await h.fake.post_as_bot(BOT_ID, "alerts", FIRING)
    ours = h.fake.add_bot("incident-bot webhook", app=False, app_id=APP_ID)
    await h.fake.post_as_bot(ours, "alerts", FIRING)
    await wait_ignored(h, "own_message", 1)
    assert await incidents(h) == []


async def test_with_a_from_list_only_the_listed_bots_and_apps_are_read(redis_url: str) -> None:
    fake = FakeSlack()
    await fake.start()
    alertmanager = fake.add_bot("Alertmanager", app=False)  # listed by bot ID
    grafana = fake.add_bot("Grafana")  # listed by app ID
    other = fake.add_bot("Deploy bot")
    assert grafana.app_id
    listed = {"channel": "alerts", "from": [alertmanager.id, grafana.app_id]}
    h = await start(redis_url, config(listed), pagerduty=True, fake=fake)
    try:
        await fake.post_as_bot(other, "alerts", FIRING)
        await wait_ignored(h, "sender_not_allowed", 1)
        await fake.post_message("U0ALICE", "alerts", FIRING)
        await wait_ignored(h, "not_a_bot", 1)
        assert await incidents(h) == []

        await fake.post_as_bot(grafana, "alerts", "[Alerting] HighCPU web-1")
        assert (await declared(h, "HighCPU")).severity == "SEV3"
        await fake.post_as_bot(alertmanager, "alerts", FIRING)
        assert (await declared(h, "DatabaseDown")).severity == "SEV1"
    finally:
        await h.stop()

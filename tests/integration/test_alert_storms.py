"""Alert storms through the real app: a SEV1 is never held behind unmatched alerts, a
sender over its rate is told to come back, groups and alerts beyond the limits are counted
and said once, and Redis stays bounded. Real redis-server, fake Slack and PagerDuty,
Alertmanager payloads POSTed to the bot's route."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from redis.asyncio import Redis

from bot.alerts.intake import group_id
from bot.alerts.worker import apply
from bot.core.config import IncidentConfig
from tests.integration.harness import Harness, eventually, metric, start
from tests.integration.storm import storm
from tests.integration.test_alerts import (
    TOKEN,
    alert,
    alerts_of,
    am,
    fire,
    group_message,
    incidents,
    messages,
    one_incident,
    post,
)


def config(**alerts: Any) -> IncidentConfig:
    return IncidentConfig.model_validate(
        {
            "alerts": {"update_every": 0.2, **alerts},
            "scheduler": {"tick": 0.1, "retry": 0.1},
            "pagerduty": {"service_id": "PSVC_MAIN", "escalation_policy_id": "PEP_MAIN"},
        }
    )


def unmatched(names: range, per_post: int = 100) -> list[dict[str, Any]]:
    """Payloads of alert names no rule matches, `per_post` names each."""
    alerts = [alert(f"NoRule{n:04d}", summary=f"noise {n}") for n in names]
    return [am(*alerts[i : i + per_post]) for i in range(0, len(alerts), per_post)]


async def send(h: Harness, bodies: list[dict[str, Any]]) -> None:
    for body in bodies:
        status, _ = await post(h, body)
        assert status == 200


def pinned_to_a_fresh_minute(h: Harness) -> Callable[[], float]:
    """The alerts' clock moved to the start of a minute, so a test's per-minute counts all
    fall in one minute."""
    offset = 60 - time.time() % 60 + 0.5
    clock: Callable[[], float] = lambda: time.time() + offset  # noqa: E731
    alerts_of(h).clock = clock
    return clock


# -- priority ---------------------------------------------------------------------------------


async def test_a_sev1_pages_while_three_hundred_unmatched_alerts_are_still_being_shown(
    redis_url: str,
) -> None:
    # digest edits wait an hour (alerts.update_every): the unmatched work cannot finish
    # during the test, so the page can only come first if nothing holds it behind them
    h = await start(
        redis_url,
        config(update_every="1h", groups_per_minute=1000),
        pagerduty=True,
        alertmanager_token=TOKEN,
    )
    try:
        assert h.pd is not None
        pd, announce = h.pd, h.channel("incidents")
        await send(h, unmatched(range(150)))
        first = await eventually(lambda: messages(h, announce, "Unmatched alert"))
        await send(h, unmatched(range(150, 300)))
        await fire(h, alert("ServiceDown", service="checkout", summary="checkout is down"))

        await eventually(lambda: len(pd.incidents) == 1)  # paged
        inc = await one_incident(h, severity="SEV1")
        assert inc.alertname == "ServiceDown"
        # the unmatched alerts are one message, still waiting for its next edit
        [digest] = messages(h, announce, "Unmatched alert")
        assert digest.ts == first[0].ts
        shown = re.search(r"Unmatched alerts: (\d+) groups", digest.text)
        assert (int(shown.group(1)) if shown else 1) <= 150, digest.text
        due, _ = await h.store.alerts_due(time.time() + 7200, 1000, "rest")
        assert "~digest" in due
        assert await h.store.alerts_groups("unmatched") == 300
    finally:
        await h.stop()


# -- the door -----------------------------------------------------------------------------------


async def post_from(h: Harness, address: str, body: Any) -> tuple[int, dict[str, str], Any]:
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.post(
            f"{h.url}/alerts/alertmanager",
            data=json.dumps(body),
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as r,
    ):
        return r.status, dict(r.headers), await r.json()


async def test_a_sender_over_its_rate_gets_429_with_retry_after(redis_url: str) -> None:
    h = await start(redis_url, config(webhook_rate="2/1m"), alertmanager_token=TOKEN)
    try:
        body = am(alert("DiskAlmostFull"))
        for _ in range(2):
            status, _, _ = await post_from(h, "127.0.0.1", body)
            assert status == 200
        status, headers, answer = await post_from(h, "127.0.0.1", body)
        assert status == 429 and answer["ok"] is False
        assert "alerts.webhook_rate" in answer["error"]
        assert 1 <= int(headers["Retry-After"]) <= 30  # one more POST a 30 s
        assert await metric(h.url, "incident_bot_alert_payloads_rejected_total", reason="rate") == 1
        assert await metric(h.url, "incident_bot_alerts_received_total", source="alertmanager") == 2
        # another sender has a rate of its own
        status, _, _ = await post_from(h, "127.0.0.2", body)
        assert status == 200
        # and a noisy sender never holds back its own page: a paging rule's alert gets in
        status, _, _ = await post_from(h, "127.0.0.1", am(alert("ServiceDown")))
        assert status == 200
        await one_incident(h, alertname="ServiceDown")
    finally:
        await h.stop()


async def test_an_accepted_post_is_one_redis_call(redis_url: str) -> None:
    """Booking the sender's rate and storing the alerts is one script, one round trip a
    POST: no other call touches the sender's rate, and that one appends to the stream."""
    h = await start(redis_url, config(), alertmanager_token=TOKEN)
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        calls: list[str] = []
        async with redis.monitor() as monitor:
            for n in range(3):
                status, _, _ = await post_from(h, "127.0.0.1", am(alert("Disk", instance=f"{n}")))
                assert status == 200
            await redis.echo("the last call")  # every call before it is seen before it
            while (seen := await monitor.next_command())["command"] != "ECHO the last call":
                if seen["client_type"] != "lua" and "rate:alertmanager" in seen["command"]:
                    calls.append(seen["command"])
        assert len(calls) == 3
        assert all(c.startswith("EVALSHA") and "alerts:stream" in c for c in calls)
        assert await metric(h.url, "incident_bot_alerts_received_total", source="alertmanager") == 3
    finally:
        await redis.aclose()
        await h.stop()


async def test_groups_beyond_the_caps_are_counted_and_told_once(redis_url: str) -> None:
    h = await start(
        redis_url,
        config(groups_per_payload=5, groups_per_minute=8),
        alertmanager_token=TOKEN,
    )
    try:
        pinned_to_a_fresh_minute(h)
        announce = h.channel("incidents")
        # one payload of ten groups: the rule's group goes first, five kept in all
        noise = [alert(f"NoRule{n}", summary="noise") for n in range(9)]
        payload = am(*noise, alert("ServiceDown", summary="checkout is down"))
        status, answer = await post(h, payload)
        assert (status, answer) == (200, {"ok": True, "accepted": 5, "dropped_groups": 5})
        await one_incident(h, alertname="ServiceDown")
        assert await metric(h.url, "incident_bot_alert_groups_dropped_total", reason="payload") == 5
        # eight new unmatched groups a minute: four kept above, four of these eight
        await send(h, unmatched(range(100, 108), per_post=4))
        await eventually(
            lambda: metric(h.url, "incident_bot_alert_groups_dropped_total", reason="minute")
        )
        assert await metric(h.url, "incident_bot_alert_groups_dropped_total", reason="minute") == 4
        assert await h.store.alerts_groups("unmatched") == 8
        # a rule's group is never kept out by unmatched ones
        await fire(h, alert("HighErrorRate", summary="6% fail"))

        async def two() -> bool:
            return len(await incidents(h)) == 2

        await eventually(two)

        def notice() -> str:
            found = messages(h, announce, "Alert storm")
            return json.dumps(found[0].blocks) if len(found) == 1 else ""

        shown = await eventually(lambda: "9 alert groups were not tracked" in notice() and notice())
        assert "5 over `alerts.groups_per_payload`" in shown
        assert "4 over `alerts.groups_per_minute`" in shown
        await h.settled()
        assert len(messages(h, announce, "Alert storm")) == 1  # one notice, edited
    finally:
        await h.stop()


# -- applying ----------------------------------------------------------------------------------


async def test_a_reads_posts_are_applied_one_call_a_group_as_if_one_at_a_time(
    redis_url: str,
) -> None:
    h = await start(redis_url, config(), alertmanager_token=TOKEN)
    try:
        alerts = alerts_of(h)
        await alerts.stop()  # the POSTs wait in the stream, read below in one go
        flips = [("a", "firing"), ("b", "firing"), ("a", "resolved"), ("a", "firing")]
        for instance, status in [*flips, ("b", "resolved")]:
            await fire(h, alert("HighMemory", status, instance=instance))
            await fire(h, alert("DiskAlmostFull", instance=instance))  # another group between
        await h.store.alerts_consumer_group()
        entries = await h.store.alerts_read("test", 100)
        calls: list[int] = []
        apply_all = h.store.alerts_apply

        async def counted(entries: Any, updates: Any, **kw: Any) -> list[int]:
            calls.append(len(updates))
            return await apply_all(entries, updates, **kw)

        h.store.alerts_apply = counted  # type: ignore[method-assign]
        await apply(alerts, entries)
        assert (len(entries), calls) == (10, [2])  # one script call a group
        memory = await h.store.alerts_group(group_id("HighMemory|checkout"))
        assert memory is not None
        # a fired, resolved and fired again; b fired then resolved: as applied one by one
        assert [memory.number(k) for k in ("firing", "resolved", "fired")] == [1, 1, 3]
        disk = await h.store.alerts_group(group_id("DiskAlmostFull|checkout"))
        assert disk is not None and [disk.number(k) for k in ("firing", "fired")] == [2, 2]
        # redelivered, in any order: changes nothing
        await apply(alerts, entries[::-1])
        again = await h.store.alerts_group(group_id("HighMemory|checkout"))
        assert again is not None
        assert {**again.fields, "last_seen": ""} == {**memory.fields, "last_seen": ""}
    finally:
        await h.stop()


# -- bounded groups -------------------------------------------------------------------------------


async def test_a_group_tracks_at_most_max_instances_and_counts_the_rest(redis_url: str) -> None:
    h = await start(redis_url, config(max_instances=10), alertmanager_token=TOKEN)
    try:
        many = [alert("HighMemory", instance=f"pod-{n}", summary="memory 2.4GB") for n in range(25)]
        await fire(h, *many)
        inc = await one_incident(h)
        assert inc.channel_id
        channel = inc.channel_id
        shown = await eventually(
            lambda: "*10 firing*" in group_message(h, channel) and group_message(h, channel)
        )
        more = re.search(r"about (\d+) more firing beyond the 10", shown)
        assert more and abs(int(more.group(1)) - 15) <= 1, shown
        assert len(re.findall(r"`instance=pod-\d+`", shown)) == 5  # a sample of them
        gid = group_id("HighMemory|checkout")
        assert await h.store.alerts_tracked(gid) == 10
        await fire(h, *many)  # sent again: counted once
        await h.settled()
        assert "about 15 more" in group_message(h, channel)
    finally:
        await h.stop()


async def test_resolved_alerts_are_dropped_after_the_flap_window(redis_url: str) -> None:
    h = await start(redis_url, config(flap_window="10m"), alertmanager_token=TOKEN)
    try:
        offset = 0.0
        clock: Callable[[], float] = lambda: time.time() + offset  # noqa: E731
        alerts_of(h).clock = clock
        h.bot.services.incidents.clock = clock
        three = [alert("HighMemory", instance=f"pod-{n}") for n in range(3)]
        await fire(h, *three)
        inc = await one_incident(h)
        assert inc.channel_id
        channel = inc.channel_id
        resolved = [alert("HighMemory", "resolved", instance=f"pod-{n}") for n in range(2)]
        await fire(h, *resolved)
        await eventually(lambda: "1 firing, 2 resolved" in group_message(h, channel))
        gid = group_id("HighMemory|checkout")
        await h.settled()
        assert await h.store.alerts_tracked(gid) == 3  # within the flap window: kept
        offset = 601.0  # past it: forgotten, and the message says so

        async def forgotten() -> bool:
            return await h.store.alerts_tracked(gid) == 1

        await eventually(forgotten)
        await eventually(lambda: "1 firing, 0 resolved" in group_message(h, channel))
    finally:
        await h.stop()


async def test_a_twenty_second_storm_of_fresh_instances_keeps_redis_bounded(
    redis_url: str,
) -> None:
    h = await start(redis_url, config(), alertmanager_token=TOKEN)
    try:
        raw = h.store.redis
        before = int((await raw.info("memory"))["used_memory"])
        posts, sent, statuses = await storm(f"{h.url}/alerts/alertmanager", TOKEN, seconds=20)
        assert set(statuses) <= {200, 429, 503} and statuses.get(200, 0) > 20
        await h.settled()
        after = int((await raw.info("memory"))["used_memory"])
        grown = (after - before) / 1e6
        print(f"storm: {posts} POSTs, {sent} alerts {statuses}: Redis grew {grown:.1f} MB")
        assert grown < 100, grown
        settings = h.bot.services.config.alerts
        assert await h.store.alerts_groups("unmatched") <= settings.max_groups
        assert await h.store.alerts_backlog() == 0
    finally:
        await h.stop()

"""Alerts without the network: payload validation, Slack alert messages, the group store
scripts (on fakeredis, which runs the Lua), Block Kit, and the shipped rules and docs."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import yaml

import blocks.alerts as ui
from blocks.limits import check_blocks
from bot.alerts.intake import (
    AlertBatch,
    InvalidAlerts,
    bearer_ok,
    group_id,
    group_key,
    parse_alertmanager,
)
from bot.alerts.slack import message_senders, parse_alert_message, sender_refused
from bot.core.config import DEFAULT_ALERT_RULES, IncidentConfig, load_config
from bot.core.models import AlertGroupView, AlertInstance, Incident
from bot.core.store import AlertEntry, GroupApply, GroupLimits, Lane, Store
from bot.runbooks.library import default_runbooks_dir, load_runbooks

ROOT = Path(__file__).resolve().parents[2]
RULES = [name for name, _, _ in DEFAULT_ALERT_RULES]
NOW = 1_795_000_000.0


def payload(*alerts: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="DatabaseDown"}',
        "status": "firing",
        "receiver": "incident-bot",
        "groupLabels": {"alertname": "DatabaseDown", "service": "db"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://am:9093",
        "truncatedAlerts": 0,
        "alerts": list(alerts),
        **extra,
    }


def am_alert(name: str = "DatabaseDown", status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "service": "db", **labels},
        "annotations": {"summary": "db is down", "description": "no connections"},
        "startsAt": "2026-11-22T10:00:00.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prom:9090/graph?g0.expr=up",
        "fingerprint": f"fp-{name}-{labels.get('instance', '0')}",
        "somethingNewer": {"ignored": True},
    }


# -- the webhook payload ----------------------------------------------------------------


def test_a_payload_becomes_one_group_per_alertname_and_group_labels() -> None:
    body = payload(am_alert(instance="a"), am_alert(instance="b"), am_alert("HighCPU"))
    batch = parse_alertmanager(json.dumps(body).encode(), now=NOW)
    assert [(g.key, g.title, len(g.alerts)) for g in batch.groups] == [
        ("DatabaseDown|db", "DatabaseDown db", 2),
        ("HighCPU|db", "HighCPU db", 1),
    ]
    first = batch.groups[0].alerts[0]
    assert first.fingerprint == "fp-DatabaseDown-a"
    assert first.starts_at == pytest.approx(
        datetime(2026, 11, 22, 10, tzinfo=UTC).timestamp() + 0.123456
    )
    assert first.ends_at is None  # Alertmanager's zero time
    assert first.annotations["summary"] == "db is down"
    assert first.generator_url == "http://prom:9090/graph?g0.expr=up"
    assert batch.groups[0].labels == {"service": "db"} and batch.count == 3


def test_no_fingerprint_derives_one_from_the_labels() -> None:
    one, two = am_alert(instance="a"), am_alert(instance="a")
    del one["fingerprint"], two["fingerprint"]
    batch = parse_alertmanager(json.dumps(payload(one, two)).encode(), now=NOW)
    fps = {a.fingerprint for a in batch.groups[0].alerts}
    assert len(fps) == 1 and "" not in fps


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"alerts": [am_alert()]}).encode(), "version: Field required"),
        (json.dumps(payload()).encode(), "alerts: List should have at least 1 item"),
        (json.dumps(payload({"status": "firing", "labels": {}})).encode(), "alertname"),
        (json.dumps(payload({**am_alert(), "status": "burning"})).encode(), "alerts.0.status"),
        (json.dumps(payload({**am_alert(), "startsAt": "yesterday"})).encode(), "startsAt"),
        (json.dumps(payload(alerts="none")).encode(), "alerts"),
        # json.loads would raise RecursionError, UnicodeDecodeError, or pass a lone surrogate
        (b"[" * 50_000 + b"]" * 50_000, "not JSON (recursion limit exceeded"),
        (b'{"version": "\xff"}', "not JSON"),
        (json.dumps(payload({**am_alert(), "labels": {"alertname": "\ud800"}})).encode(), "JSON"),
        (json.dumps(payload({**am_alert(), "startsAt": "2024-03-06T12:00:00"})).encode(), "zone"),
    ],
)
def test_a_malformed_payload_says_why(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidAlerts, match=re.escape(reason)):
        parse_alertmanager(body, now=NOW)


def test_a_batch_survives_its_round_trip_through_the_stream() -> None:
    batch = parse_alertmanager(json.dumps(payload(am_alert())).encode(), now=NOW)
    again = AlertBatch.model_validate_json(batch.model_dump_json(exclude_defaults=True))
    assert again == batch


def test_the_bearer_token_must_match_exactly() -> None:
    assert bearer_ok("Bearer s3cret", "s3cret") and bearer_ok("bearer s3cret", "s3cret")
    for header in (None, "", "Bearer", "Bearer s3cre", "Basic s3cret", "Bearer s3cret2"):
        assert not bearer_ok(header, "s3cret")
    # what aiohttp makes of undecodable or non-ASCII header bytes: no match, and no TypeError
    for header in ("Bearer s3cret\udcff", "Bearer s3crét", "Bearer \x00"):
        assert not bearer_ok(header, "s3cret")


# -- alert messages in Slack --------------------------------------------------------------


def am_slack(title: str, text: str = "", link: str = "http://am:9093/#/alerts") -> dict[str, Any]:
    """Alertmanager's slack_configs notification, as Slack delivers it."""
    return {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B0AM",
        "username": "alertmanager",
        "text": "",
        "ts": "1795000000.000100",
        "attachments": [
            {"title": title, "title_link": link, "text": text, "fallback": title, "color": "danger"}
        ],
    }


PERSON = {"type": "message", "user": "U0ALICE", "text": "[FIRING:1] DatabaseDown db"}
APP_POST = {  # an app's chat.postMessage, as Slack delivers it
    "type": "message",
    "user": "U0GRAFBOT",
    "bot_id": "B0GRAF",
    "app_id": "A0GRAF",
    "bot_profile": {"id": "B0GRAF", "app_id": "A0GRAF", "name": "Grafana"},
    "text": "[Alerting] HighCPU",
}


@pytest.mark.parametrize(
    ("event", "senders"),
    [
        (PERSON, set()),
        (am_slack("[FIRING:1] X"), {"B0AM"}),  # a classic integration: bot_message, bot_id
        (APP_POST, {"B0GRAF", "A0GRAF"}),
        ({"user": "U0X", "bot_profile": {"id": "B0P", "app_id": "A0P"}}, {"B0P", "A0P"}),
        ({"user": "U0X", "bot_profile": "not an object"}, set()),
    ],
)
def test_the_machine_that_posted_a_message(event: dict[str, Any], senders: set[str]) -> None:
    assert message_senders(event) == senders


def test_who_an_alert_channel_reads() -> None:
    anyone, own = frozenset(), frozenset({"U0BOT", "B0BOT", "A0BOT"})
    assert sender_refused(PERSON, anyone, own) == (
        "not_a_bot",
        "posted by a person, not a bot or app",
    )
    assert sender_refused(APP_POST, anyone, own) is None
    assert sender_refused(APP_POST, frozenset({"A0GRAF"}), own) is None  # by app ID
    assert sender_refused(APP_POST, frozenset({"B0GRAF"}), own) is None  # by bot ID
    refused = sender_refused(APP_POST, frozenset({"B0AM"}), own)
    assert refused is not None and refused[0] == "sender_not_allowed"
    for ours in ({**APP_POST, "user": "U0BOT"}, {**APP_POST, "app_id": "A0BOT"}):
        assert sender_refused(ours, anyone, own) == ("own_message", "the bot's own post")


def test_alertmanager_slack_notifications_meet_the_webhook_in_one_group() -> None:
    update = parse_alert_message(
        am_slack("[FIRING:2] DatabaseDown db (critical prod)"), RULES, now=NOW
    )
    assert update is not None
    webhook_key, title = group_key("DatabaseDown", {"alertname": "DatabaseDown", "service": "db"})
    assert update.key == webhook_key and update.title == title == "DatabaseDown db"
    assert [a.status for a in update.alerts] == ["firing", "firing"]
    assert update.alerts[0].generator_url == "http://am:9093/#/alerts"
    assert update.complete_prefix == "slack:"

    resolved = parse_alert_message(
        am_slack("[RESOLVED] DatabaseDown db (critical)"), RULES, now=NOW
    )
    assert resolved is not None and resolved.key == webhook_key and resolved.alerts == []


def test_a_templated_notification_gives_summary_description_and_labels() -> None:
    text = (
        "*Alert:* Checkout is down - `critical`\n"
        "*Description:* checkout-api has not answered for 1m\n"
        "*Details:*\n • *service:* `checkout`\n • *instance:* `10.0.0.7:8080`"
    )
    update = parse_alert_message(am_slack("[FIRING:1] ServiceDown checkout", text), RULES, now=NOW)
    assert update is not None and update.alertname == "ServiceDown"
    alert = update.alerts[0]
    assert alert.annotations == {
        "summary": "Checkout is down - critical",
        "description": "checkout-api has not answered for 1m",
    }
    assert alert.labels["service"] == "checkout" and alert.labels["instance"] == "10.0.0.7:8080"


def test_an_alert_messages_text_is_kept_as_it_reads_and_shown_escaped() -> None:
    # Slack escapes the message's text; it is stored as it reads, and escaped once to show
    text = "*Alert:* p99 &gt; 2s &amp; <!here>\n*Description:* see &lt;runbook&gt;"
    update = parse_alert_message(am_slack("[FIRING:1] ServiceDown checkout", text), RULES, now=NOW)
    assert update is not None
    assert update.alerts[0].annotations == {
        "summary": "p99 > 2s & !here",
        "description": "see <runbook>",
    }


@pytest.mark.parametrize(
    ("event", "alertname", "firing"),
    [
        ({"text": "[Alerting] HighCPU alert"}, "HighCPU", 1),
        ({"text": "[OK] HighCPU alert"}, "HighCPU", 0),
        ({"text": ":rotating_light: *Triggered: High CPU on web-1*"}, "HighCPU", 1),
        ({"text": "Recovered: High CPU on web-1"}, "HighCPU", 0),
        ({"text": "*[FIRING:3]* DiskFull node-1"}, "DiskFull", 3),
        (
            {
                "blocks": [
                    {
                        "type": "section",
                        "text": {"type": "mrkdwn", "text": "[FIRING:1] SlowResponse api"},
                    }
                ]
            },
            "SlowResponse",
            1,
        ),
    ],
)
def test_other_monitoring_bots(event: dict[str, Any], alertname: str, firing: int) -> None:
    update = parse_alert_message({"subtype": "bot_message", "ts": "1.1", **event}, RULES, now=NOW)
    assert update is not None
    assert update.alertname == alertname and len(update.alerts) == firing


@pytest.mark.parametrize(
    "text", ["hello team", "OK folks, lunch", "is the alert [FIRING] yet?", "", "ok: sure"]
)
def test_chatter_is_not_an_alert(text: str) -> None:
    assert parse_alert_message({"text": text, "ts": "1.1"}, RULES, now=NOW) is None


# -- the group scripts --------------------------------------------------------------------


@pytest.fixture
def store() -> Store:
    return Store(fakeredis.FakeAsyncRedis(decode_responses=True))


LIMITS = GroupLimits(
    max_instances=100,
    keep=5,
    flap=1800.0,
    max_groups=100,
    per_minute=100,
    quiet=3600.0,
    window=300.0,
    ttl=86400,
)


def update(
    gid: str, entry_id: str, *alerts: tuple[str, str], prefix: str = "", lane: Lane = "rule"
) -> GroupApply:
    head = [prefix, "X|", "X", json.dumps({"title": "X"}), "alertmanager", ""]
    entry = AlertEntry(entry_id, "{}")
    args: list[str] = []
    for fp, status in alerts:
        body = AlertInstance(fingerprint=fp, status=status, alertname="X").model_dump_json()  # type: ignore[arg-type]
        args += [fp, status, body, entry.seq]
    return GroupApply(gid, entry, lane, "rule", head, args)


async def apply(
    store: Store,
    entry_id: str,
    *alerts: tuple[str, str],
    prefix: str = "",
    at: float = NOW,
    limits: GroupLimits = LIMITS,
    gid: str = "g1",
) -> int:
    u = update(gid, entry_id, *alerts, prefix=prefix)
    [result] = await store.alerts_apply([], [u], now=at, limits=limits)
    return result


async def counts(store: Store) -> tuple[int, int, int, int]:
    g = await store.alerts_group("g1")
    assert g is not None
    return tuple(int(g.number(k)) for k in ("firing", "resolved", "fired", "version"))  # type: ignore[return-value]


async def test_an_older_or_repeated_entry_changes_nothing(store: Store) -> None:
    await apply(store, "100-0", ("a", "firing"), ("b", "firing"))
    await apply(store, "200-0", ("a", "resolved"))
    assert await counts(store) == (1, 1, 2, 2)
    await apply(store, "150-0", ("a", "firing"))  # older than the resolve: ignored
    await apply(store, "200-0", ("a", "resolved"))  # redelivered: ignored
    await apply(store, "200-1", ("b", "firing"))  # same status again: no new version
    assert await counts(store) == (1, 1, 2, 2)
    await apply(store, "300-0", ("a", "firing"))  # fires again: counted as a new firing
    assert await counts(store) == (2, 0, 3, 3)


async def test_a_complete_report_resolves_what_it_does_not_name(store: Store) -> None:
    await apply(store, "1-0", ("slack:0", "firing"), ("slack:1", "firing"), ("hex", "firing"))
    await apply(store, "2-0", ("slack:0", "firing"), prefix="slack:")
    assert (await counts(store))[:2] == (2, 1)  # slack:1 resolved; the webhook's alert stays
    await apply(store, "3-0", prefix="slack:")
    assert (await counts(store))[:2] == (1, 2)


async def test_settling_keeps_a_group_due_when_it_changed_meanwhile(store: Store) -> None:
    await apply(store, "1-0", ("a", "firing"))
    assert (await store.alerts_due(NOW, 10, "rule"))[0] == ["g1"]
    g = await store.alerts_group("g1")
    assert g is not None
    await apply(store, "2-0", ("a", "resolved"))  # lands while the reconciler works
    assert not await store.alerts_settle("g1", g.text("version"), None, NOW)
    assert (await store.alerts_due(NOW, 10, "rule"))[0] == ["g1"]
    g = await store.alerts_group("g1")
    assert g is not None
    assert await store.alerts_settle("g1", g.text("version"), NOW + 5, NOW)
    assert await store.alerts_due(NOW, 10, "rule") == ([], NOW + 5)


async def test_a_group_tracks_at_most_max_instances_and_counts_the_rest(store: Store) -> None:
    few = dataclasses.replace(LIMITS, max_instances=3)
    fired = [(f"f{i}", "firing") for i in range(10)]
    await apply(store, "1-0", *fired, limits=few)
    await apply(store, "2-0", *fired, limits=few)  # Alertmanager sends the group again
    g = await store.alerts_group("g1")
    assert g is not None and await store.alerts_tracked("g1") == 3
    assert (g.number("firing"), g.untracked) == (3, 7)  # the rest counted once each
    assert len(g.sample) == 3
    # one resolves: a firing one beyond the cap takes its place
    await apply(store, "3-0", ("f0", "resolved"), limits=few)
    await apply(store, "4-0", ("f3", "firing"), limits=few)
    assert await store.alerts_tracked("g1") == 3
    assert (await counts(store))[:2] == (3, 0)


async def test_resolved_alerts_are_forgotten_after_the_flap_window(store: Store) -> None:
    await apply(store, "1-0", ("a", "firing"), ("b", "firing"), ("c", "firing"))
    await apply(store, "2-0", ("a", "resolved"), ("b", "resolved"))
    g = await store.alerts_group("g1")
    assert g is not None and g.oldest_resolved == NOW
    assert await store.alerts_prune("g1", before=NOW - 1, now=NOW, lane="rule") == 0
    later = NOW + LIMITS.flap + 1
    assert await store.alerts_prune("g1", before=later - LIMITS.flap, now=later, lane="rule") == 2
    assert await store.alerts_tracked("g1") == 1 and (await counts(store))[:2] == (1, 0)
    # and on apply: a resolve long ago is forgotten with the next batch
    await apply(store, "3-0", ("c", "resolved"), at=later)
    await apply(store, "4-0", ("d", "firing"), at=later + LIMITS.flap + 1)
    assert await store.alerts_tracked("g1") == 1


async def test_new_groups_are_capped_a_minute_and_in_all(store: Store) -> None:
    two = dataclasses.replace(LIMITS, per_minute=2, max_groups=3)
    results = [
        await apply(store, "1-0", ("a", "firing"), gid=f"g{i}", limits=two) for i in range(4)
    ]
    assert results == [1, 1, -2, -2]  # two a minute
    assert await apply(store, "2-0", ("b", "firing"), gid="g0", limits=two) == 1  # known: fine
    nxt = NOW + 60
    results = [
        await apply(store, "3-0", ("a", "firing"), gid=f"h{i}", limits=two, at=nxt)
        for i in range(2)
    ]
    assert results == [1, -1]  # three at most, none of them quiet enough to evict
    notice = await store.alerts_board("notice", members=1)
    assert (notice[0]["n:minute"], notice[0]["n:total"]) == ("2", "1")
    assert (await store.alerts_due(NOW, 10, "rest"))[0] == ["~notice"]
    # a quiet group (all resolved, unseen for `quiet`) makes room for a new one
    await apply(store, "4-0", ("a", "resolved"), gid="g1", limits=two, at=nxt)
    much_later = nxt + LIMITS.quiet + 1
    assert await apply(store, "5-0", ("a", "firing"), gid="h9", limits=two, at=much_later) == 1
    assert await store.alerts_group("g1") is None


async def test_the_queue_refuses_past_its_bytes_until_applied(store: Store) -> None:
    assert await store.alerts_accept("x" * 60, max_bytes=100) is True
    assert await store.alerts_accept("y" * 60, max_bytes=100) is None  # full
    assert await store.alerts_accept("y" * 30, max_bytes=100, once="e1", ttl=60) is True
    assert await store.alerts_accept("y" * 5, max_bytes=100, once="e1", ttl=60) is False
    await store.alerts_consumer_group()
    entries = await store.alerts_read("c", 10)
    await store.alerts_apply(entries, [], now=NOW, limits=LIMITS)
    assert await store.alerts_accept("y" * 60, max_bytes=100) is True


async def test_a_slack_budget_allows_a_burst_then_one_per_interval(store: Store) -> None:
    async def pace(
        *budgets: tuple[str, float, int], at: float = NOW, max_wait: float = 1.5
    ) -> float:
        return await store.alerts_pace(list(budgets), now=at, max_wait=max_wait)

    waits = [await pace(("b", 1.0, 3)) for _ in range(6)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(1.0) and waits[4] == pytest.approx(-2.0)  # not booked
    assert waits[5] == pytest.approx(-2.0)
    assert await pace(("b", 1.0, 3), at=NOW + 10, max_wait=0) == 0.0
    # two budgets: a call waits for the fuller one, and books both or neither
    assert await pace(("c", 1.0, 1), ("d", 1.0, 5)) == 0.0
    assert await pace(("c", 1.0, 1), ("d", 1.0, 5), max_wait=0.5) == pytest.approx(-1.0)
    assert [await pace(("d", 1.0, 5), max_wait=0) for _ in range(4)] == [0.0] * 4
    assert await pace(("d", 1.0, 5), max_wait=0) < 0


# -- Block Kit ----------------------------------------------------------------------------

LONG = "x<&>" * 1000


def view(firing: int = 3, resolved: int = 1, n: int = 7) -> AlertGroupView:
    sample = [
        AlertInstance(
            fingerprint=f"f{i}",
            status="firing",
            alertname="DatabaseDown",
            labels={"alertname": "DatabaseDown", "service": "db", "instance": f"db-{i}"},
            annotations={"summary": LONG, "description": LONG},
            starts_at=NOW - 60,
            generator_url="http://prom:9090/graph?g0.expr=up",
        )
        for i in range(n)
    ]
    return AlertGroupView(
        group_id=group_id("DatabaseDown|db"),
        alertname="DatabaseDown",
        title="DatabaseDown db",
        labels={"service": "db"},
        source="alertmanager",
        firing=firing,
        resolved=resolved,
        sample=sample,
        updated_at=NOW,
        link="http://am:9093",
    )


INCIDENT = Incident(
    id="20261122-4",
    title="DatabaseDown db: db is down",
    severity="SEV2",
    declared_by="U0ALICE",
    declared_at=NOW,
    channel_id="C0INC",
    channel_name="inc-20261122-4-databasedown",
)


DIGEST = [
    view().model_copy(
        update={
            "group_id": f"g{i}",
            "alertname": f"NoRule{i}" + LONG[:100],
            "incident": INCIDENT.id if i == 3 else None,
        }
    )
    for i in range(150)
]


@pytest.mark.parametrize(
    "message",
    [
        ui.alert_group(view()),
        ui.alert_group(view(firing=0, resolved=9, n=0)),
        ui.unmatched_alert(view(), None),
        ui.unmatched_alert(view(), INCIDENT),
        ui.alerts_resolved(INCIDENT, view(0, 3), at=NOW, auto_resolve_at=NOW + 60),
        ui.alerts_resolved(INCIDENT, view(0, 3), at=NOW, auto_resolve_at=None),
        ui.firing_again(view()),
        ui.resolved_notice("U0BOB", NOW),
        ui.declared_from_alert(INCIDENT, view()),
        ui.alert_group(view().model_copy(update={"untracked": 1234})),
        ui.unmatched_digest([view()], {}, total=1, since=NOW),
        ui.unmatched_digest(DIGEST, {INCIDENT.id: INCIDENT}, total=300, since=NOW),
        ui.storm_notice({"payload": 5, "minute": 1200, "total": 3}, since=NOW),
    ],
)
def test_alert_messages_are_within_slack_limits(message: tuple[str, list[Any]]) -> None:
    text, blocks = message
    assert text and check_blocks(blocks) == []


def test_an_alert_message_shows_what_the_alert_says() -> None:
    v = view(firing=9, resolved=2, n=2)
    v.sample[0].annotations = {"summary": "db is down", "description": "no connections"}
    _, blocks = ui.alert_group(v)
    shown = json.dumps(blocks)
    for expected in (
        "DatabaseDown db: firing",
        "*9 firing*",
        "2 resolved",
        "`service=db`",
        "*db is down*",
        "no connections",
        "`instance=db-0`",
        f"<!date^{int(NOW - 60)}^",
        "<http://prom:9090/graph?g0.expr=up|Source>",
        "7 more firing",
    ):
        assert expected in shown, expected
    assert "&lt;&amp;&gt;" in json.dumps(ui.alert_group(view())[1])  # alert text is escaped


def test_a_digest_lists_its_first_groups_and_offers_the_firing_undeclared_ones() -> None:
    text, blocks = ui.unmatched_digest(DIGEST, {INCIDENT.id: INCIDENT}, total=300, since=NOW)
    assert text == "Unmatched alerts: 300 groups, 450 alerts firing"
    shown = json.dumps(blocks, ensure_ascii=False)
    assert shown.count("• *NoRule") == ui.DIGEST_LINES and "280 more groups" in shown
    assert "<#C0INC>" in shown  # the one declared
    [select] = [b["elements"][0] for b in blocks if b["type"] == "actions"]
    values = [o["value"] for o in select["options"]]
    assert len(values) == ui.DIGEST_CHOICES and "g3" not in values and values[0] == "g0"


def test_the_unmatched_post_offers_declare_until_declared() -> None:
    _, before = ui.unmatched_alert(view(), None)
    assert [b["elements"][0]["action_id"] for b in before if b["type"] == "actions"] == [
        ui.ACTION_DECLARE
    ]
    _, after = ui.unmatched_alert(view(), INCIDENT)
    assert not [b for b in after if b["type"] == "actions"]
    assert "<#C0INC>" in json.dumps(after)


# -- the shipped rules and docs -------------------------------------------------------------


def test_each_default_rule_has_a_shipped_runbook_for_its_alert() -> None:
    runbooks = load_runbooks(default_runbooks_dir())
    rules = IncidentConfig().alerts.rules
    assert [(r.alertname, r.severity) for r in rules] == [
        ("ServiceDown", "SEV1"),
        ("HighErrorRate", "SEV1"),
        ("DatabaseConnectionFailures", "SEV2"),
        ("HighLatency", "SEV2"),
        ("HighMemory", "SEV2"),
        ("RedisConnectionIssues", "SEV3"),
        ("ExternalIntegrationCircuitOpen", "SEV3"),
        ("HighCPU", "SEV3"),
        ("SlowResponse", "SEV4"),
        ("LowCacheHitRate", "SEV4"),
    ]
    for rule in rules:
        assert rule.runbook in runbooks, rule
        assert rule.alertname in runbooks[rule.runbook].alerts, rule


def test_the_prometheus_rules_produce_exactly_the_default_alerts() -> None:
    doc = yaml.safe_load((ROOT / "docs/prometheus/alert-rules.yml").read_text())
    alerts = [r["alert"] for g in doc["groups"] for r in g["rules"]]
    assert alerts == RULES
    for group in doc["groups"]:
        for rule in group["rules"]:
            assert rule["expr"] and rule["annotations"]["summary"], rule["alert"]


def test_the_alertmanager_config_sends_them_to_the_bot() -> None:
    doc = yaml.safe_load((ROOT / "docs/prometheus/alertmanager.yml").read_text())
    assert doc["route"]["group_by"] == ["alertname", "service"]
    [receiver] = doc["receivers"]
    [hook] = receiver["webhook_configs"]
    assert hook["url"].endswith("/alerts/alertmanager") and hook["send_resolved"] is True
    assert hook["http_config"]["authorization"]["type"] == "Bearer"
    amtool = shutil.which("amtool")
    if amtool:
        done = subprocess.run(
            [amtool, "check-config", str(ROOT / "docs/prometheus/alertmanager.yml")],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_fewer_severities_keep_the_default_rules_valid(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "severities:\n  - {name: P1, label: Big, update_every: 1h, page: true}\n"
        "  - {name: P2, label: Small, update_every: 1d}\n"
    )
    assert load_config(path).alerts.rules  # the built-in rules fall back, not fail
    path.write_text("alerts:\n  unmatched_severity: SEV9\n")
    with pytest.raises(Exception, match="unmatched_severity"):
        load_config(path)


def test_a_rule_naming_a_missing_runbook_stops_the_start() -> None:
    from bot.alerts import Alerts
    from bot.runbooks.library import RunbookError

    config = IncidentConfig.model_validate(
        {"alerts": {"rules": [{"alertname": "X", "severity": "SEV2", "runbook": "nope"}]}}
    )
    runbooks = load_runbooks(default_runbooks_dir())
    with pytest.raises(RunbookError, match=r"alerts.rules\[0\] \(X\): no runbook 'nope'"):
        Alerts(None, None, None, config, runbooks)  # type: ignore[arg-type]

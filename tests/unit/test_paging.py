"""The real PagerDuty client against the wire-true fake on a real port."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from bot.core.pagerduty import (
    InvalidWebhook,
    OnCallEntry,
    PagerDuty,
    PagerDutyUser,
    PageResult,
    PagingError,
    parse_webhook,
    split_now_next,
    verify_webhook_signature,
)
from bot.fakes.pagerduty import FakePagerDuty, sign

# A Wednesday. Rotations hand over on Mondays 09:00 UTC: Backend Primary has Bob this week,
# Platform has Carol; from Monday 2024-03-11 09:00 Alice and Erin, but the seeded override
# puts Carol on Backend Primary for that Monday's first day.
NOW = datetime(2024, 3, 6, 12, 0, tzinfo=UTC)
HANDOVER = datetime(2024, 3, 11, 9, 0, tzinfo=UTC)
SECRET = "whsec-test"


@pytest.fixture
async def fake() -> AsyncIterator[FakePagerDuty]:
    pd = FakePagerDuty(now=lambda: NOW, webhooks_for_api_changes=False)
    await pd.start()
    yield pd
    await pd.stop()


def client(fake: FakePagerDuty, **overrides: object) -> PagerDuty:
    kw: dict[str, object] = {
        "api_url": fake.api_url,
        "events_url": fake.events_url,
        "from_email": "alice@example.com",
        "timeout": 2.0,
    }
    kw.update(overrides)
    api_key = str(kw.pop("api_key", fake.api_key))
    return PagerDuty(api_key, **kw)  # type: ignore[arg-type]


async def page(pd: PagerDuty, key: str = "inc-20240306-1") -> PageResult:
    return await pd.page(
        service_id="PSVC_MAIN",
        escalation_policy_id="PEP_MAIN",
        incident_key=key,
        title="Checkout is down",
        details="500s on /checkout",
    )


async def test_page_creates_then_dedupes_on_incident_key(fake: FakePagerDuty) -> None:
    pd = client(fake)
    first = await pd.page(
        service_id="PSVC_MAIN",
        escalation_policy_id="PEP_MAIN",
        incident_key="inc-1",
        title="Checkout is down",
        details="500s",
    )
    assert first.created is True
    assert first.status == "triggered"
    assert first.escalation_level == 1
    assert [(u.id, u.email) for u in first.assignees] == [("PU_BOB", "bob@example.com")]
    sent = fake.calls_to("POST", "/incidents")[0]
    assert sent.headers["From"] == "alice@example.com"
    assert sent.headers["Authorization"] == "Token token=pd-fake-key"
    assert sent.body["incident"]["incident_key"] == "inc-1"
    assert sent.body["incident"]["escalation_policy"]["id"] == "PEP_MAIN"

    again = await pd.page(
        service_id="PSVC_MAIN",
        escalation_policy_id="PEP_MAIN",
        incident_key="inc-1",
        title="Checkout is down",
        details="500s",
    )
    assert again.created is False
    assert again.incident_id == first.incident_id
    assert len(fake.incidents) == 1
    assert [c.status for c in fake.calls_to("POST", "/incidents")] == [201, 400]


async def test_a_page_is_one_post_and_each_user_is_asked_for_once(fake: FakePagerDuty) -> None:
    """The create answer is the incident: nothing is read back; the assignees' emails
    (a user reference has none) come from the users' cache, one GET per user."""
    pd = client(fake)
    for n in range(3):
        paged = await page(pd, key=f"inc-{n}")
        assert [(u.id, u.email) for u in paged.assignees] == [("PU_BOB", "bob@example.com")]
        assert paged.incident_number == n + 1 and paged.html_url
    assert len(fake.calls_to("POST", "/incidents")) == 3
    assert fake.calls_to("GET", "/incidents") == []
    assert len(fake.calls_to("GET", "/users/PU_BOB")) == 1
    escalated = await pd.escalate(paged.incident_id, 2)
    acked = await pd.acknowledge(paged.incident_id)
    assert [u.email for u in escalated.assignees] == ["carol@example.com"]
    assert acked.status == "acknowledged"
    assert len(fake.calls_to("PUT", "/incidents")) == 2 and fake.calls_to("GET", "/incidents") == []


async def test_calls_run_in_the_clients_own_few_threads(fake: FakePagerDuty) -> None:
    """Twenty pages at once queue for the client's two threads (not asyncio's default
    pool, which every to_thread shares), each thread keeping its session."""
    seen: set[str] = set()
    pd = client(fake, workers=2)
    original = pd._page

    def spy(*args: object) -> PageResult:
        seen.add(threading.current_thread().name)
        return original(*args)  # type: ignore[arg-type]

    pd._page = spy  # type: ignore[method-assign]
    results = await asyncio.gather(*(page(pd, key=f"inc-{n}") for n in range(20)))
    assert len({r.incident_id for r in results}) == 20
    assert 1 <= len(seen) <= 2 and all(name.startswith("pagerduty") for name in seen)
    pd.close()
    assert (await page(pd, key="after-close")).created  # a call after close gets a new pool


async def test_a_resolved_key_pages_again(fake: FakePagerDuty) -> None:
    pd = client(fake)
    first = await pd.page(
        service_id="PSVC_MAIN",
        escalation_policy_id=None,
        incident_key="k",
        title="t",
        details="d",
    )
    await pd.resolve(first.incident_id)
    second = await pd.page(
        service_id="PSVC_MAIN", escalation_policy_id=None, incident_key="k", title="t", details="d"
    )
    assert second.created is True and second.incident_id != first.incident_id


async def test_escalate_reassigns_to_each_level_then_refuses_past_the_last(
    fake: FakePagerDuty,
) -> None:
    pd = client(fake)
    paged = await page(pd)
    level2 = await pd.escalate(paged.incident_id, 2)
    assert level2.escalation_level == 2
    assert [u.name for u in level2.assignees] == ["Carol Example"]
    level3 = await pd.escalate(paged.incident_id, 3)
    assert [(u.id, u.email) for u in level3.assignees] == [("PU_DAVE", "dave@example.com")]
    with pytest.raises(PagingError) as err:
        await pd.escalate(paged.incident_id, 4)
    assert err.value.retryable is False and err.value.status == 400


async def test_acknowledge_and_resolve(fake: FakePagerDuty) -> None:
    pd = client(fake)
    paged = await page(pd)
    incident_id = paged.incident_id
    acked = await pd.acknowledge(incident_id)
    assert acked.status == "acknowledged"
    assert [u.id for u in acked.acknowledged_by] == ["PU_ALICE"]  # the From user
    await pd.resolve(incident_id, note="Rolled back deploy 42")
    assert fake.incidents[incident_id]["status"] == "resolved"
    assert fake.incidents[incident_id]["_resolution"] == "Rolled back deploy 42"
    got = await pd.get_incident(incident_id)
    assert got.status == "resolved" and got.assignees == []
    await pd.resolve(incident_id)  # resolving twice is harmless, so retries are safe


async def test_oncall_now_and_next_in_one_walk_with_override(fake: FakePagerDuty) -> None:
    pd = client(fake)
    now, upcoming = await pd.oncall_now_and_next(
        schedule_ids=["PS_BACKEND", "PS_PLATFORM"], escalation_policy_ids=["PEP_MAIN"], now=NOW
    )
    assert [(e.level, e.schedule_name, e.user.name) for e in now] == [
        (1, "Backend Primary", "Bob Example"),
        (2, "Platform", "Carol Example"),
        (3, None, "Dave Example"),  # a level that targets a user directly
    ]
    assert now[0].end == int(HANDOVER.timestamp())  # the handover
    assert now[0].user.email == "bob@example.com"
    assert now[2].start is None and now[2].end is None
    # Carol's override wins over Alice's rotation turn for the first day.
    assert [(e.level, e.user.id, e.start) for e in upcoming] == [
        (1, "PU_CAROL", int(HANDOVER.timestamp())),
        (2, "PU_ERIN", int(HANDOVER.timestamp())),
    ]
    walks = fake.calls_to("GET", "/oncalls")
    assert len(walks) == 1
    assert walks[0].query["escalation_policy_ids[]"] == ["PEP_MAIN"]
    assert walks[0].query["include[]"] == ["users"]
    assert walks[0].query["since"] == ["2024-03-06T12:00:00Z"]

    # An override covering now is who is on call now; schedule lookups stay cached.
    fake.set_override("PS_BACKEND", "PU_ALICE", NOW - timedelta(hours=1), NOW + timedelta(hours=3))
    now, _ = await pd.oncall_now_and_next(
        schedule_ids=["PS_BACKEND", "PS_PLATFORM"], escalation_policy_ids=["PEP_MAIN"], now=NOW
    )
    assert (now[0].user.id, now[0].end) == ("PU_ALICE", int((NOW + timedelta(hours=3)).timestamp()))
    assert len(fake.calls_to("GET", "/oncalls")) == 2
    assert len(fake.calls_to("GET", "/schedules")) == 2  # one per schedule, first refresh only


async def test_oncalls_walk_follows_pagination(fake: FakePagerDuty) -> None:
    pd = client(fake)
    for n in range(130):  # one-hour shifts: more spans than pdpyras' 100-entry page holds
        fake.set_override(
            "PS_BACKEND",
            "PU_ALICE" if n % 2 else "PU_BOB",
            NOW + timedelta(hours=n),
            NOW + timedelta(hours=n + 1),
        )
    fake.set_override("PS_PLATFORM", "PU_DAVE", NOW, NOW + timedelta(days=6))
    entries = await pd.oncalls(
        schedule_ids=["PS_BACKEND", "PS_PLATFORM"],
        escalation_policy_ids=["PEP_MAIN"],
        since=NOW,
        until=NOW + timedelta(days=6),
    )
    pages = fake.calls_to("GET", "/oncalls")
    assert len(entries) > 130
    # pdpyras' classic pagination: one walk of two pages
    assert [(c.status, c.query["offset"]) for c in pages] == [(200, ["0"]), (200, ["100"])]
    assert len({(e.level, e.user.id, e.start) for e in entries}) == len(entries)


def test_split_now_next_picks_the_covering_span_and_the_earliest_upcoming_one() -> None:
    t = int(NOW.timestamp())
    alice = PagerDutyUser(id="PU_A", name="A")
    bob = PagerDutyUser(id="PU_B", name="B")

    def span(user: PagerDutyUser, start: int, end: int) -> OnCallEntry:
        return OnCallEntry(
            level=1,
            user=user,
            schedule_id="S",
            schedule_name="S",
            policy_id="P",
            start=start,
            end=end,
        )

    past, current = span(bob, t - 200, t - 100), span(alice, t - 100, t + 100)
    later, soon = span(alice, t + 200, t + 300), span(bob, t + 100, t + 200)
    assert split_now_next([past, later, current, soon], NOW) == ([current], [soon])
    assert split_now_next([], NOW) == ([], [])


async def test_server_errors_are_retryable_each_time_then_page_succeeds(
    fake: FakePagerDuty,
) -> None:
    pd = client(fake)
    fake.fail("/incidents", status=500, times=3, method="POST")
    for _ in range(3):
        with pytest.raises(PagingError) as err:
            await page(pd)
        assert err.value.retryable is True and err.value.status == 500
    assert (await page(pd)).created is True
    assert len(fake.calls_to("POST", "/incidents")) == 4  # writes are never retried in here
    assert len(fake.incidents) == 1


async def test_rate_limit_is_retryable_with_retry_after(fake: FakePagerDuty) -> None:
    pd = client(fake)
    fake.fail("/incidents", status=429, retry_after=7, method="POST")
    with pytest.raises(PagingError) as err:
        await page(pd)
    assert (err.value.retryable, err.value.status, err.value.retry_after) == (True, 429, 7.0)
    fake.fail("/abilities", status=429, retry_after=3)
    with pytest.raises(PagingError) as err:
        await pd.check()
    assert err.value.retry_after == 3.0
    assert len(fake.calls_to("GET", "/abilities")) == 1  # 429 is never retried in a thread


async def test_a_get_gets_one_quick_retry_on_a_server_error(fake: FakePagerDuty) -> None:
    pd = client(fake)
    fake.fail("/escalation_policies", status=503)
    levels = await pd.escalation_policy("PEP_MAIN")
    assert [(lv.level, lv.targets) for lv in levels] == [
        (1, ["schedule:PS_BACKEND"]),
        (2, ["schedule:PS_PLATFORM"]),
        (3, ["user:PU_DAVE"]),
    ]
    assert [c.status for c in fake.calls_to("GET", "/escalation_policies")] == [503, 200]


async def test_client_errors_are_not_retryable(fake: FakePagerDuty) -> None:
    with pytest.raises(PagingError) as err:
        await client(fake, api_key="wrong").check()
    assert (err.value.retryable, err.value.status) == (False, 401)
    with pytest.raises(PagingError) as err:
        await page(client(fake, from_email=None))
    assert (err.value.retryable, err.value.status) == (False, 400)
    with pytest.raises(PagingError) as err:
        await client(fake).user("PU_NOBODY")
    assert (err.value.retryable, err.value.status) == (False, 404)
    await client(fake).check()


async def test_a_timeout_is_retryable(fake: FakePagerDuty) -> None:
    fake.latency = 0.5
    with pytest.raises(PagingError) as err:
        await page(client(fake, timeout=0.1))
    assert err.value.retryable is True and err.value.status is None


async def test_users_and_schedules(fake: FakePagerDuty) -> None:
    pd = client(fake)
    erin = await pd.user("PU_ERIN")
    assert (erin.name, erin.email) == ("Erin Example", "erin@example.com")
    await pd.user("PU_ERIN")
    assert len(fake.calls_to("GET", "/users/PU_ERIN")) == 1
    assert await pd.schedules() == {"PS_BACKEND": "Backend Primary", "PS_PLATFORM": "Platform"}
    assert await pd.schedule_name("PS_PLATFORM") == "Platform"


async def test_events_api_trigger_and_resolve(fake: FakePagerDuty) -> None:
    pd = client(fake, routing_key=fake.routing_key)
    key = await pd.send_event("trigger", dedup_key="alert-1", summary="CPU high", source="web-1")
    assert key == "alert-1"
    (incident,) = fake.incidents.values()
    assert (incident["title"], incident["status"]) == ("CPU high", "triggered")
    await pd.send_event("resolve", dedup_key="alert-1")
    assert incident["status"] == "resolved"
    with pytest.raises(PagingError) as err:
        await client(fake, routing_key="bogus").send_event("trigger", dedup_key="x", summary="s")
    assert (err.value.retryable, err.value.status) == (False, 400)


# ---------------------------------------------------------------- webhooks


def test_signature_verification() -> None:
    body = b'{"event": {}}'
    good = sign(SECRET, body)
    assert verify_webhook_signature(SECRET, body, good)
    assert not verify_webhook_signature(SECRET, body + b" ", good)
    assert not verify_webhook_signature("other", body, good)
    assert verify_webhook_signature(SECRET, body, f"{sign('old', body)}, {good}")
    assert verify_webhook_signature(SECRET, body, f"{good},v1=deadbeef")
    assert not verify_webhook_signature(SECRET, body, "v1=deadbeef,v1=")
    assert not verify_webhook_signature(SECRET, body, good.replace("v1=", "v0="))
    assert not verify_webhook_signature(SECRET, body, None)
    assert not verify_webhook_signature(SECRET, body, "")
    # what aiohttp makes of non-ASCII or undecodable header bytes: a mismatch, not a TypeError
    for header in ("v1=é" + "0" * 63, "v1=\udcff", good + "é"):
        assert not verify_webhook_signature(SECRET, body, header)


def test_parse_webhook(fake: FakePagerDuty) -> None:
    incident = fake.trigger(title="Disk full", incident_key="k-9")
    payload = fake.webhook_payload("incident.escalated", incident["id"], agent="PU_BOB")
    event = parse_webhook(json.dumps(payload).encode())
    assert (event.event_type, event.incident_id, event.incident_key) == (
        "incident.escalated",
        incident["id"],
        "k-9",
    )
    assert (event.agent_id, event.agent_name) == ("PU_BOB", "Bob Example")
    assert event.occurred_at == NOW
    assert event.service_id == "PSVC_MAIN"  # data.service.id
    trimmed = fake.webhook_payload("incident.escalated", incident["id"], drop=["service"])
    assert parse_webhook(json.dumps(trimmed).encode()).service_id is None
    for bad in (b"not json", b"{}", b'{"event": {"id": "x"}}', b"[]"):
        with pytest.raises(InvalidWebhook):
            parse_webhook(bad)


@pytest.mark.parametrize(
    "bad",
    [
        b"[" * 50_000 + b"]" * 50_000,  # json.loads: RecursionError
        b'{"event": "\xff"}',  # not UTF-8
        b'{"event": []}',
        b'{"event": {"id": "E", "event_type": "incident.resolved", "occurred_at": '
        b'"2024-03-06T12:00:00Z", "data": "PINC"}}',
        b'{"event": {"id": "E", "event_type": "incident.resolved", "occurred_at": '
        b'"2024-03-06T12:00:00Z", "agent": "PU_BOB", "data": {"id": "PINC"}}}',
    ],
)
def test_parse_webhook_refuses_any_malformed_body_with_invalid_webhook(bad: bytes) -> None:
    with pytest.raises(InvalidWebhook, match="not a PagerDuty v3 webhook"):
        parse_webhook(bad)


def test_parse_webhook_reads_pings_and_incident_references() -> None:
    ping = {
        "event": {
            "id": "01PING",
            "event_type": "pagey.ping",
            "resource_type": "pagey",
            "occurred_at": "2024-03-06T12:00:00Z",
            "agent": None,
            "client": None,
            "data": {"message": "Hello from your friend Pagey!", "type": "ping"},
        }
    }
    event = parse_webhook(json.dumps(ping).encode())
    assert (event.event_type, event.incident_id) == ("pagey.ping", "")
    note = {
        "event": {
            "id": "01NOTE",
            "event_type": "incident.annotated",
            "resource_type": "incident",
            "occurred_at": "2024-03-06T12:00:00Z",
            "agent": {"id": "PU_BOB", "summary": "Bob Example", "type": "user_reference"},
            "client": {"name": "PagerDuty"},
            "data": {
                "incident": {"id": "PINC", "type": "incident_reference"},
                "id": "PNOTE",
                "content": "rolling back",
                "type": "incident_note",
            },
        }
    }
    event = parse_webhook(json.dumps(note).encode())
    assert (event.incident_id, event.resource_type, event.agent_name) == (
        "PINC",
        "incident",
        "Bob Example",
    )


class Receiver:
    """A tiny webhook endpoint that records what arrives."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrived = asyncio.Event()
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((dict(request.headers), body))
        self.arrived.set()
        ok = verify_webhook_signature(SECRET, body, request.headers.get("X-PagerDuty-Signature"))
        return web.Response(status=202 if ok else 401)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/webhooks/pagerduty", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}/webhooks/pagerduty"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    yield r
    if r.runner is not None:
        await r.runner.cleanup()


async def test_responder_ack_sends_a_signed_webhook(
    fake: FakePagerDuty, receiver: Receiver
) -> None:
    fake.webhook_url = await receiver.start()
    fake.webhook_secret = SECRET
    heard: list[str] = []
    unsubscribe = fake.subscribe(lambda name, incident: heard.append(name))
    incident = fake.trigger(title="Checkout is down", incident_key="inc-7")
    await fake.acknowledge(incident["id"], "PU_BOB")
    unsubscribe()
    ((headers, body),) = receiver.received
    assert verify_webhook_signature(SECRET, body, headers["X-PagerDuty-Signature"])
    event = parse_webhook(body)
    assert (event.event_type, event.incident_id, event.status, event.agent_id) == (
        "incident.acknowledged",
        incident["id"],
        "acknowledged",
        "PU_BOB",
    )
    assert fake.webhook_deliveries == [("incident.acknowledged", 202)]
    assert heard == ["incident_acknowledged"]
    assert await fake.send_webhook("incident.resolved", incident["id"], sign_with="wrong") == 401


async def test_api_changes_send_webhooks_too(fake: FakePagerDuty, receiver: Receiver) -> None:
    fake.webhook_url = await receiver.start()
    fake.webhook_secret = SECRET
    fake.webhooks_for_api_changes = True
    paged = await page(client(fake))
    await asyncio.wait_for(receiver.arrived.wait(), timeout=5)
    await fake.drain()
    ((_, body),) = receiver.received
    event = parse_webhook(body)
    assert (event.event_type, event.incident_id) == (
        "incident.triggered",
        paged.incident_id,
    )


async def test_the_environments_proxy_is_used_and_no_proxy_honoured(
    fake: FakePagerDuty, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proxy settings are read once per session (not per request), still from the
    environment: HTTP_PROXY carries the calls, NO_PROXY exempts a host."""
    asked: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        asked.append(request.path)
        return web.Response(status=502)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        proxied = client(fake)
        with pytest.raises(PagingError):
            await page(proxied)
        assert asked == ["/incidents"]  # the page went to the proxy (which failed it)
        proxied.close()

        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        direct = client(fake)
        asked.clear()
        assert (await page(direct)).created
        assert asked == []
        direct.close()
    finally:
        await runner.cleanup()


FIRST_PAGE = """
import asyncio, sys
import bot.cli, bot.server  # all `python -m bot` imports before it serves
early = sorted(m for m in ("pdpyras", "requests", "charset_normalizer") if m in sys.modules)
from bot.core.pagerduty import PagerDuty
from bot.fakes.pagerduty import FakePagerDuty

async def main():
    fake = FakePagerDuty(webhooks_for_api_changes=False)
    await fake.start()
    pd = PagerDuty(fake.api_key, api_url=fake.api_url, events_url=fake.events_url,
                   from_email="alice@example.com", timeout=2.0)
    try:
        found = await pd.page(service_id="PSVC_MAIN", escalation_policy_id="PEP_MAIN",
                              incident_key="inc-first", title="t", details="d")
    finally:
        pd.close()
        await fake.stop()
    print(early, found.created, found.status, "pdpyras" in sys.modules)

asyncio.run(main())
"""


def test_start_up_loads_no_pdpyras_and_the_first_page_still_pages() -> None:
    """pdpyras and requests (~5.7 MiB of idle RSS) wait for the first PagerDuty call
    (bot/core/pagerduty/sessions.py); that first call, in a fresh process, pages."""
    done = subprocess.run(
        [sys.executable, "-c", FIRST_PAGE], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "True", "triggered", "True"]

"""Bad bytes at the webhook routes get a 4xx and one log line, never a 500 and a traceback;
the real webhooks still work afterwards.

Every request here goes over a real socket, some written by hand (raw_http) because no
client library sends an undecodable header. The PagerDuty webhooks are signed with the
route's real secret, so what is tested is the parsing after a passed signature check.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.core.config import IncidentConfig
from tests.integration import raw_http
from tests.integration.harness import Harness, eventually, start

TOKEN = "am-bad-bytes-token"
SECRET = "whsec-bad-bytes"
DEEP = b"[" * 100_000 + b"]" * 100_000  # json.loads: RecursionError


@pytest.fixture
async def h(redis_url: str) -> AsyncIterator[Harness]:
    config = IncidentConfig.model_validate(
        {
            "pagerduty": {"service_id": "PSVC_MAIN", "escalation_policy_id": "PEP_MAIN"},
            "escalation": {"ack_timeout": "1h"},
            "scheduler": {"tick": 0.1, "retry": 0.1},
        }
    )
    harness = await start(
        redis_url,
        config,
        pagerduty=True,
        alertmanager_token=TOKEN,
        pagerduty_webhook_secret=SECRET,
    )
    yield harness
    await harness.stop()


def signed(body: bytes) -> list[tuple[bytes, bytes]]:
    mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return [
        (b"Content-Type", b"application/json"),
        (b"X-PagerDuty-Signature", f"v1={mac}".encode()),
    ]


def event(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "01EVENT",
        "event_type": "incident.acknowledged",
        "resource_type": "incident",
        "occurred_at": "2026-11-22T10:00:00Z",
        "agent": {"id": "PU_BOB", "type": "user_reference"},
        "data": {"id": "PINC", "type": "incident", "status": "acknowledged"},
    }
    return {"event": {**base, **changes}}


# where a request's trouble is logged (not the scheduler's background jobs)
REQUEST_PATH = ("aiohttp", "asyncio", "bot.server", "bot.core.guard", "bot.alerts", "handlers")


def no_tracebacks(records: list[logging.LogRecord]) -> None:
    ours = [r for r in records if r.name.startswith(REQUEST_PATH)]
    assert [r.getMessage() for r in ours if r.exc_info or r.levelno >= logging.ERROR] == []


def one_line_no_traceback(records: list[logging.LogRecord], line: str) -> None:
    no_tracebacks(records)
    assert len([r for r in records if r.getMessage() == line]) == 1


PD_BODIES = {
    "deeply nested": DEEP,
    "deep inside the event": b'{"event": {"data": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
    "not UTF-8": b'{"event": "\xff\xfe"}',
    "a lone surrogate": json.dumps(event(id="\ud800")).encode(),
    "not JSON": b"{event",
    "an array": b"[]",
    "event is a list": b'{"event": []}',
    "data is a string": json.dumps(event(data="PINC")).encode(),
    "agent is a string": json.dumps(event(agent="PU_BOB")).encode(),
    "a time that is none": json.dumps(event(occurred_at="yesterday")).encode(),
    "a number too long": b'{"event": {"id": ' + b"9" * 5000 + b"}}",
}


@pytest.mark.parametrize("body", PD_BODIES.values(), ids=PD_BODIES.keys())
async def test_a_signed_but_malformed_pagerduty_webhook_gets_400(
    h: Harness, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    answer = await raw_http.post(h.url, "/webhooks/pagerduty", body, signed(body))
    assert answer.status == 400, answer
    assert "not a PagerDuty v3 webhook" in answer.json()["error"]
    one_line_no_traceback(caplog.records, "PagerDuty webhook refused")


@pytest.mark.parametrize(
    "header",
    [b"v1=\xc3\xa9" + b"0" * 62, b"v1=\xff\xfe", "v1=é".encode("latin-1"), b"v1=\x00"],
    ids=["UTF-8 non-ASCII", "undecodable", "latin-1", "NUL"],
)
async def test_a_non_ascii_signature_gets_401(
    h: Harness, header: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    body = json.dumps(event()).encode()
    headers = [(b"Content-Type", b"application/json"), (b"X-PagerDuty-Signature", header)]
    answer = await raw_http.post(h.url, "/webhooks/pagerduty", body, headers)
    assert answer.status in (400, 401), answer  # aiohttp itself refuses a NUL with 400
    no_tracebacks(caplog.records)


async def test_an_oversized_or_unsigned_pagerduty_webhook_is_refused_unread(h: Harness) -> None:
    big = b'{"event": "' + b"x" * 300_000 + b'"}'
    answer = await raw_http.post(h.url, "/webhooks/pagerduty", big, signed(big))
    assert answer.status == 413
    answer = await raw_http.post(h.url, "/webhooks/pagerduty", b"{}", [])
    assert (answer.status, answer.json()["error"]) == (401, "no X-PagerDuty-Signature")


async def test_after_the_bad_bytes_a_real_acknowledgement_still_lands(h: Harness) -> None:
    for body in PD_BODIES.values():
        assert (await raw_http.post(h.url, "/webhooks/pagerduty", body, signed(body))).status == 400
    await h.command("declare SEV1 Checkout API returning 500s")
    incident = await eventually(_paged(h))
    assert h.pd is not None
    await h.pd.acknowledge(incident.page.pd_incident_id, "PU_BOB")
    assert h.pd.webhook_deliveries[-1] == ("incident.acknowledged", 200)
    acked = await h.incident(incident.id)
    assert acked.page is not None and acked.page.status == "acknowledged"


def _paged(h: Harness) -> Any:
    async def check() -> Any:
        for incident in await h.store.recent_incidents():
            if incident.page and incident.page.pd_incident_id:
                return incident
        return None

    return check


# -- Alertmanager ---------------------------------------------------------------------------


def bearer(token: bytes = TOKEN.encode()) -> list[tuple[bytes, bytes]]:
    return [(b"Content-Type", b"application/json"), (b"Authorization", b"Bearer " + token)]


def am_alert(**changes: Any) -> dict[str, Any]:
    alert = {
        "status": "firing",
        "labels": {"alertname": "DiskFull", "instance": "db-1"},
        "annotations": {"summary": "disk is full"},
        "startsAt": "2026-11-22T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "f-1",
    }
    return {**alert, **changes}


def am(*alerts: dict[str, Any]) -> bytes:
    payload = {
        "version": "4",
        "status": "firing",
        "receiver": "incident-bot",
        "groupLabels": {"alertname": "DiskFull"},
        "alerts": list(alerts) or [am_alert()],
    }
    return json.dumps(payload).encode()


AM_BODIES = {
    "deeply nested": DEEP,
    "deep inside the alerts": b'{"version": "4", "alerts": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "not UTF-8": b'{"version": "\xff"}',
    "a lone surrogate": am(am_alert(labels={"alertname": "\ud800"})),
    "not JSON": b"{alerts",
    "a string": b'"alerts"',
    "a time without a zone": am(am_alert(startsAt="0001-01-01T00:00:00")),
    "labels that are not strings": am(am_alert(labels={"alertname": ["x"]})),
    "a number too long": b'{"version": ' + b"9" * 5000 + b"}",
}


@pytest.mark.parametrize("body", AM_BODIES.values(), ids=AM_BODIES.keys())
async def test_a_malformed_alertmanager_payload_gets_400(
    h: Harness, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    answer = await raw_http.post(h.url, "/alerts/alertmanager", body, bearer())
    assert answer.status == 400, answer
    one_line_no_traceback(caplog.records, "Alertmanager payload refused")


@pytest.mark.parametrize(
    "token",
    [TOKEN.encode() + b"\xff", "tökén".encode(), "tökén".encode("latin-1"), b""],
    ids=["undecodable", "UTF-8 non-ASCII", "latin-1", "empty"],
)
async def test_a_bad_bearer_token_gets_401_before_the_body_is_read(
    h: Harness, token: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    answer = await raw_http.post(h.url, "/alerts/alertmanager", DEEP, bearer(token))
    assert answer.status == 401, answer
    no_tracebacks(caplog.records)


async def test_an_oversized_alertmanager_payload_gets_413(h: Harness) -> None:
    declared = raw_http.request_bytes("POST", "/alerts/alertmanager", b"", bearer())
    declared = declared.replace(b"Content-Length: 0", b"Content-Length: 999999999")
    assert (await raw_http.send(h.url, declared)).status == 413


async def test_after_the_bad_bytes_a_real_alert_is_stored(h: Harness) -> None:
    for body in AM_BODIES.values():
        assert (await raw_http.post(h.url, "/alerts/alertmanager", body, bearer())).status == 400
    answer = await raw_http.post(h.url, "/alerts/alertmanager", am(), bearer())
    assert (answer.status, answer.json()) == (200, {"ok": True, "accepted": 1})


# -- requests aiohttp itself cannot parse ---------------------------------------------------

GARBAGE = {
    "a header without a colon": b"GET /healthz HTTP/1.1\r\nHost: bot\r\nno colon here\r\n\r\n",
    "a NUL in a header": b"GET /healthz HTTP/1.1\r\nHost: bot\r\nX-A: a\x00b\r\n\r\n",
    "a header too long": b"GET /healthz HTTP/1.1\r\nHost: bot\r\nX-A: " + b"a" * 9000 + b"\r\n\r\n",
    "a bad content length": b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: -1"
    b"\r\n\r\n",
    "two content lengths": b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 1\r\n"
    b"Content-Length: 2\r\n\r\nab",
}


@pytest.mark.parametrize("data", GARBAGE.values(), ids=GARBAGE.keys())
async def test_an_unparseable_request_gets_400_and_one_line_without_a_traceback(
    h: Harness, data: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    answer = await raw_http.send(h.url, data)
    assert 400 <= answer.status < 500, answer
    no_tracebacks(caplog.records)
    lines = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert len(lines) <= 1
    assert all(r.levelno == logging.WARNING and not r.exc_info for r in lines)

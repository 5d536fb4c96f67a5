"""PagerDuty v3 webhooks: the signature check on the raw body, and the body read into a
`WebhookEvent` (or `InvalidWebhook`)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from pydantic import BaseModel, ValidationError

from bot.core.pagerduty.models import InvalidWebhook, WebhookEvent


def verify_webhook_signature(secret: str, body: bytes, header: str | None) -> bool:
    """True if any `v1=<hex>` in X-PagerDuty-Signature is the HMAC-SHA256 of the body.

    PagerDuty lists several signatures while a secret is being rotated. The header is
    attacker's text: compared as bytes, so non-ASCII (or undecodable) input is a mismatch."""
    if not header or not secret:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    for part in header.split(","):
        version, _, value = part.strip().partition("=")
        given = value.strip().lower().encode("utf-8", "surrogateescape")
        if version == "v1" and hmac.compare_digest(given, expected):
            return True
    return False


class _Reference(BaseModel):
    id: str | None = None
    summary: str | None = None
    name: str | None = None
    email: str | None = None


class _EventData(BaseModel):
    id: str | None = None  # absent from a `pagey.ping`
    type: str = ""
    status: str | None = None
    incident_key: str | None = None
    incident: _Reference | None = None  # notes, status updates, responders name theirs
    service: _Reference | None = None


class _Event(BaseModel):
    id: str
    event_type: str
    occurred_at: datetime
    resource_type: str = ""
    agent: _Reference | None = None
    data: _EventData


class _Envelope(BaseModel):
    event: _Event


def parse_webhook(body: bytes) -> WebhookEvent:
    """A PagerDuty v3 webhook body -> WebhookEvent; InvalidWebhook if it is not one.

    pydantic reads the JSON itself: bad UTF-8, deep nesting and wrong shapes all come out
    as one ValidationError, never a RecursionError or a KeyError."""
    try:
        event = _Envelope.model_validate_json(body).event
    except ValidationError as exc:
        raise InvalidWebhook(f"not a PagerDuty v3 webhook: {_first_problem(exc)}") from None
    data, agent = event.data, event.agent or _Reference()
    return WebhookEvent(
        id=event.id,
        event_type=event.event_type,
        occurred_at=event.occurred_at,
        resource_type=event.resource_type or data.type,
        incident_id=(data.incident.id if data.incident else data.id) or "",
        status=data.status,
        incident_key=data.incident_key,
        service_id=data.service.id if data.service else None,
        agent_id=agent.id,
        agent_name=agent.summary or agent.name,
        agent_email=agent.email,
    )


def _first_problem(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"]) or "(body)"
    return f"{where}: {err['msg']}"

"""v3 webhooks: the payload PagerDuty sends about an incident, signed and POSTed."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterable
from datetime import UTC

import aiohttp

from bot.fakes.pagerduty.model import JSON
from bot.fakes.pagerduty.server import Server


def sign(secret: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhooks(Server):
    """Sending webhooks about the account's incidents."""

    def webhook_payload(
        self,
        event_type: str,
        incident_id: str,
        *,
        agent: str | None = None,
        drop: Iterable[str] = (),
    ) -> JSON:
        """The v3 payload about one incident; `drop` leaves fields out of `data` (a
        trimmed payload, whose receiver must ask the REST API for what it lacks)."""
        incident = self.incidents[incident_id]
        data = {
            "id": incident["id"],
            "type": "incident",
            "self": incident["self"],
            "html_url": incident["html_url"],
            "number": incident["incident_number"],
            "status": incident["status"],
            "incident_key": incident["incident_key"],
            "created_at": incident["created_at"],
            "title": incident["title"],
            "service": incident["service"],
            "assignees": [self._user_ref(a["user"]) for a in incident["_assignments"]],
            "escalation_policy": incident["escalation_policy"],
            "teams": [],
            "priority": None,
            "urgency": incident["urgency"],
            "conference_bridge": None,
            "resolve_reason": None,
        }
        for name in drop:
            data.pop(name, None)
        return {
            "event": {
                "id": uuid.uuid4().hex[:26].upper(),
                "event_type": event_type,
                "resource_type": "incident",
                "occurred_at": self.now().astimezone(UTC).isoformat(timespec="milliseconds"),
                "agent": self._user_ref(agent) if agent else None,
                "client": None,
                "data": data,
            }
        }

    async def send_webhook(
        self,
        event_type: str,
        incident_id: str,
        *,
        sign_with: str | None = None,
        agent: str | None = None,
        url: str | None = None,
        drop: Iterable[str] = (),
    ) -> int:
        """POST a v3 webhook about any incident of the account, signed; returns the
        receiver's HTTP status."""
        target = url or self.webhook_url
        if not target:
            raise RuntimeError("FakePagerDuty has no webhook_url")
        payload = self.webhook_payload(event_type, incident_id, agent=agent, drop=drop)
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "PagerDuty-Webhook/V3.0",
            "X-Webhook-Id": uuid.uuid4().hex,
            "X-Webhook-Subscription": "PSUBFAKE",
        }
        secret = sign_with or self.webhook_secret
        if secret:
            headers["X-PagerDuty-Signature"] = sign(secret, body)
        with self.activity.busy():
            async with (
                aiohttp.ClientSession() as session,
                session.post(target, data=body, headers=headers) as response,
            ):
                status = response.status
        self.webhook_deliveries.append((event_type, status))
        return status

"""Events API v2: ``/v2/enqueue`` (trigger, acknowledge, resolve by dedup key)."""

from __future__ import annotations

import uuid

from aiohttp import web

from bot.fakes.pagerduty.incidents import Incidents
from bot.fakes.pagerduty.server import json_body


class Events(Incidents):
    """Alert events, authenticated by routing key."""

    async def _enqueue(self, request: web.Request) -> web.Response:
        body = await json_body(request)

        def invalid(*errors: str) -> web.Response:
            return web.json_response(
                {
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": list(errors),
                },
                status=400,
            )

        if not isinstance(body, dict):
            return invalid("Event object is not valid JSON")
        if body.get("routing_key") != self.routing_key:
            return invalid("'routing_key' is invalid")
        action, key = body.get("event_action"), body.get("dedup_key")
        if action not in ("trigger", "acknowledge", "resolve"):
            return invalid("'event_action' is missing or blank")
        if action == "trigger":
            payload = body.get("payload") or {}
            missing = [f for f in ("summary", "source", "severity") if not payload.get(f)]
            if missing:
                return invalid(*(f"'payload.{f}' is missing or blank" for f in missing))
            key = key or uuid.uuid4().hex
            if not self._open_with_key(key, "PSVC_MAIN"):
                created = self.trigger(title=payload["summary"], incident_key=key)
                await self._changed("incident.triggered", created, agent=None, via_api=True)
        else:
            if not key:
                return invalid("'dedup_key' is missing or blank")
            incident = self._open_with_key(key, "PSVC_MAIN")
            if (
                incident is not None
                and action == "acknowledge"
                and incident["status"] == "triggered"
            ):
                self._ack(incident, None)
                await self._changed("incident.acknowledged", incident, agent=None, via_api=True)
            elif incident is not None and action == "resolve":
                self._resolve(incident, None)
                await self._changed("incident.resolved", incident, agent=None, via_api=True)
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": key}, status=202
        )

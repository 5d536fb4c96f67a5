"""REST API v2, incidents: create (with PagerDuty's refusals), list, get, update
(acknowledge, resolve, escalate), notes; what responders do in PagerDuty; and the webhook
and listeners each change is followed by."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from aiohttp import web

from bot.fakes.pagerduty.model import HTML_BASE, JSON, iso
from bot.fakes.pagerduty.server import json_body, pd_error
from bot.fakes.pagerduty.webhooks import Webhooks


class Incidents(Webhooks):
    """The incident lifecycle, from the API and from responders."""

    def _incident_json(self, incident: JSON, includes: Iterable[str] = ()) -> JSON:
        """The wire form: internal `_`-prefixed bookkeeping stripped, references expanded if
        asked with include[]=assignees / acknowledgers."""
        body = {k: v for k, v in incident.items() if not k.startswith("_")}
        body["assignments"] = [
            {"at": a["at"], "assignee": self._user_ref(a["user"], full="assignees" in includes)}
            for a in incident["_assignments"]
        ]
        body["acknowledgements"] = [
            {
                "at": a["at"],
                "acknowledger": self._user_ref(a["user"], full="acknowledgers" in includes),
            }
            for a in incident["_acknowledgements"]
        ]
        return body

    def _assign(self, incident: JSON, level: int) -> None:
        at = iso(self.now())
        incident["escalation_level"] = level
        incident["_assignments"] = [
            {"at": at, "user": u}
            for u in self._oncall_users(incident["escalation_policy"]["id"], level, self.now())
        ]

    def _open_with_key(self, key: str, service_id: str) -> JSON | None:
        for incident in self.incidents.values():
            if (
                incident["incident_key"] == key
                and incident["service"]["id"] == service_id
                and incident["status"] != "resolved"
            ):
                return incident
        return None

    def trigger(
        self,
        *,
        title: str,
        service_id: str = "PSVC_MAIN",
        incident_key: str | None = None,
        urgency: str = "high",
        policy_id: str | None = None,
        details: str | None = None,
    ) -> JSON:
        """Create an incident (what POST /incidents and /v2/enqueue both do)."""
        number = len(self.incidents) + 1
        incident_id = f"PINC{number:04d}"
        policy = self.policies[policy_id or self.services[service_id]["policy"]]
        now = iso(self.now())
        incident: JSON = {
            "id": incident_id,
            "type": "incident",
            "summary": f"[#{number}] {title}",
            "self": f"{self.api_url}/incidents/{incident_id}",
            "html_url": f"{HTML_BASE}/incidents/{incident_id}",
            "incident_number": number,
            "title": title,
            "created_at": now,
            "updated_at": now,
            "last_status_change_at": now,
            "status": "triggered",
            "incident_key": incident_key or uuid.uuid4().hex,
            "urgency": urgency,
            "service": self._service_ref(service_id),
            "escalation_policy": self._policy_ref(policy),
            "escalation_level": 1,
            "resolve_reason": None,
            "_details": details,
            "_assignments": [],
            "_acknowledgements": [],
        }
        self._assign(incident, 1)
        self.incidents[incident_id] = incident
        return incident

    async def _create_incident(self, request: web.Request) -> web.Response:
        if "@" not in request.headers.get("From", ""):
            return pd_error(
                400,
                "Invalid Input Provided",
                'You must specify a user\'s email address in the "From" header to perform '
                "this action",
            )
        body = await json_body(request)
        inc = body.get("incident") if isinstance(body, dict) else None
        if not isinstance(inc, dict) or inc.get("type") not in ("incident", "incident_reference"):
            return pd_error(400, "Invalid Input Provided", "Incident type must be 'incident'")
        title = inc.get("title")
        service = inc.get("service") or {}
        if not isinstance(title, str) or not title.strip():
            return pd_error(400, "Invalid Input Provided", "Title can't be blank")
        if service.get("id") not in self.services:
            return pd_error(400, "Invalid Input Provided", "Service not found")
        policy_id = (inc.get("escalation_policy") or {}).get("id")
        if policy_id is not None and policy_id not in self.policies:
            return pd_error(400, "Invalid Input Provided", "Escalation policy not found")
        urgency = inc.get("urgency", "high")
        if urgency not in ("high", "low"):
            return pd_error(400, "Invalid Input Provided", "Urgency must be high or low")
        key = inc.get("incident_key")
        if key is not None and self._open_with_key(key, service["id"]):
            # Our choice of the wording PagerDuty uses for a duplicate open incident key;
            # the client matches on "already exists", not on the whole sentence.
            return pd_error(
                400,
                "Incident Already Exists",
                "Open incident with matching dedup key already exists on this service",
            )
        details = (inc.get("body") or {}).get("details")
        assignees = [(a.get("assignee") or {}).get("id") for a in inc.get("assignments") or []]
        if assignees and policy_id is not None:
            return pd_error(
                400,
                "Invalid Input Provided",
                "Incident cannot have both assignments and an escalation policy",
            )
        if any(uid not in self.users for uid in assignees):
            return pd_error(400, "Invalid Input Provided", "Assignee not found")
        incident = self.trigger(
            title=title,
            service_id=service["id"],
            incident_key=key,
            urgency=urgency,
            policy_id=policy_id,
            details=details,
        )
        if assignees:  # assigned to these users instead of the policy's first level
            at = incident["created_at"]
            incident["_assignments"] = [{"at": at, "user": u} for u in assignees]
        await self._changed("incident.triggered", incident, agent=None, via_api=True)
        return web.json_response({"incident": self._incident_json(incident)}, status=201)

    async def _list_incidents(self, request: web.Request) -> web.Response:
        q = request.query
        key = q.get("incident_key")
        statuses = q.getall("statuses[]", [])
        items = [
            self._incident_json(i, q.getall("include[]", []))
            for i in self.incidents.values()
            if (key is None or i["incident_key"] == key)
            and (not statuses or i["status"] in statuses)
        ]
        return self._page(request, items, "incidents")

    async def _get_incident(self, request: web.Request) -> web.Response:
        incident = self.incidents.get(request.match_info["id"])
        if incident is None:
            return pd_error(404, "Not Found", code=2100)
        includes = request.query.getall("include[]", [])
        return web.json_response({"incident": self._incident_json(incident, includes)})

    async def _update_incident(self, request: web.Request) -> web.Response:
        incident = self.incidents.get(request.match_info["id"])
        if incident is None:
            return pd_error(404, "Not Found", code=2100)
        if "@" not in request.headers.get("From", ""):
            return pd_error(
                400,
                "Invalid Input Provided",
                'You must specify a user\'s email address in the "From" header',
            )
        body = await json_body(request)
        inc = body.get("incident") if isinstance(body, dict) else None
        if not isinstance(inc, dict) or inc.get("type") not in ("incident", "incident_reference"):
            return pd_error(400, "Invalid Input Provided", "Incident type must be 'incident'")
        agent = self._user_by_email(request.headers["From"])
        status, level = inc.get("status"), inc.get("escalation_level")
        if status not in (None, "acknowledged", "resolved"):
            return pd_error(400, "Invalid Input Provided", "Status is not valid")
        if level is not None:
            levels = len(self.policies[incident["escalation_policy"]["id"]].levels)
            if not isinstance(level, int) or not 1 <= level <= levels:
                return pd_error(400, "Invalid Input Provided", "Escalation level is not valid")
            if incident["status"] == "resolved":
                return pd_error(400, "Incident Already Resolved", code=2001)
            self._assign(incident, level)
            incident["status"] = "triggered"  # escalating re-triggers, as in PagerDuty
            incident["_acknowledgements"] = []
            await self._changed("incident.escalated", incident, agent=agent, via_api=True)
        if status == "acknowledged" and incident["status"] == "triggered":
            self._ack(incident, agent)
            await self._changed("incident.acknowledged", incident, agent=agent, via_api=True)
        elif status == "resolved" and incident["status"] != "resolved":
            self._resolve(incident, inc.get("resolution"))
            await self._changed("incident.resolved", incident, agent=agent, via_api=True)
        return web.json_response({"incident": self._incident_json(incident)})

    async def _add_note(self, request: web.Request) -> web.Response:
        incident_id = request.match_info["id"]
        if incident_id not in self.incidents:
            return pd_error(404, "Not Found", code=2100)
        body = await json_body(request)
        content = (
            ((body or {}).get("note") or {}).get("content") if isinstance(body, dict) else None
        )
        if not isinstance(content, str) or not content:
            return pd_error(400, "Invalid Input Provided", "Note content can't be blank")
        note = {
            "id": f"PN{len(self.notes.get(incident_id, [])) + 1:05d}",
            "content": content,
            "created_at": iso(self.now()),
        }
        self.notes.setdefault(incident_id, []).append(note)
        return web.json_response({"note": note}, status=201)

    def _ack(self, incident: JSON, user_id: str | None) -> None:
        incident["status"] = "acknowledged"
        incident["last_status_change_at"] = iso(self.now())
        if user_id is not None:
            incident["_acknowledgements"].append({"at": iso(self.now()), "user": user_id})

    def _resolve(self, incident: JSON, resolution: str | None) -> None:
        incident["status"] = "resolved"
        incident["last_status_change_at"] = iso(self.now())
        incident["_assignments"] = []  # PagerDuty empties assignments on resolve
        incident["_resolution"] = resolution

    # ---------------------------------------------------------------- responder actions

    async def acknowledge(
        self, incident_id: str, user_id: str, *, drop: Iterable[str] = ()
    ) -> None:
        """A responder acknowledges in PagerDuty; a signed webhook follows if configured
        (`drop`: see webhook_payload)."""
        incident = self.incidents[incident_id]
        if incident["status"] != "triggered":
            return
        self._ack(incident, user_id)
        await self._emit("incident_acknowledged", self._incident_json(incident))
        if self.webhook_url:
            await self.send_webhook("incident.acknowledged", incident_id, agent=user_id, drop=drop)

    async def resolve_as_user(self, incident_id: str, user_id: str) -> None:
        incident = self.incidents[incident_id]
        if incident["status"] == "resolved":
            return
        self._resolve(incident, None)
        await self._emit("incident_resolved", self._incident_json(incident))
        if self.webhook_url:
            await self.send_webhook("incident.resolved", incident_id, agent=user_id)

    async def _changed(
        self, event_type: str, incident: JSON, *, agent: str | None, via_api: bool
    ) -> None:
        await self._emit(event_type.replace(".", "_"), self._incident_json(incident))
        if self.webhook_url and (self.webhooks_for_api_changes or not via_api):
            # Sent after the API response, like PagerDuty's asynchronous delivery.
            task = self.activity.spawn(self.send_webhook(event_type, incident["id"], agent=agent))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

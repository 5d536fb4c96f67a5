"""REST API v2, the directory: abilities, users, on-calls, schedules (with the final
schedule), escalation policies, services."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web

from bot.fakes.pagerduty.model import JSON, Schedule, iso, parse_time
from bot.fakes.pagerduty.server import Server, pd_error


class Directory(Server):
    """The read-only REST routes."""

    async def _abilities(self, request: web.Request) -> web.Response:
        return web.json_response({"abilities": ["teams", "urgencies", "read_only_users"]})

    async def _users_me(self, request: web.Request) -> web.Response:
        # The fake's key is an account-level token; PagerDuty answers /users/me like this
        # (pdpyras' APISession.api_key_access relies on this exact phrase).
        return web.json_response(
            {
                "error": "Because this request was made using an account-level access token, "
                "we were unable to determine the user's identity. Please make your request "
                "using a user-level access token."
            },
            status=400,
        )

    async def _list_users(self, request: web.Request) -> web.Response:
        q = request.query.get("query", "").lower()
        users = [dict(u) for u in self.users.values() if q in u["name"].lower() or q in u["email"]]
        return self._page(request, users, "users")

    async def _get_user(self, request: web.Request) -> web.Response:
        uid = request.match_info["id"]
        if uid not in self.users:
            return pd_error(404, "Not Found", code=2100)
        return web.json_response({"user": dict(self.users[uid])})

    async def _oncalls(self, request: web.Request) -> web.Response:
        q = request.query
        now = self.now()
        try:
            since = parse_time(q["since"]) if "since" in q else now
            until = parse_time(q["until"]) if "until" in q else since
        except ValueError:
            return pd_error(400, "Invalid Input Provided", "Invalid since or until")
        if until < since or until - since > timedelta(days=90):
            return pd_error(400, "Invalid Input Provided", "until must be within 90 days of since")
        schedule_ids = q.getall("schedule_ids[]", [])
        policy_ids = q.getall("escalation_policy_ids[]", [])
        user_ids = q.getall("user_ids[]", [])
        includes = q.getall("include[]", [])
        entries = []
        seen: set[tuple[str, int, str]] = set()
        for e in self.oncall_entries(since, until):
            sid = e["schedule"]["id"] if e["schedule"] else "null"
            # Filters narrow one another (AND); values within one filter are alternatives.
            if schedule_ids and sid not in schedule_ids:
                continue
            if policy_ids and e["escalation_policy"]["id"] not in policy_ids:
                continue
            if user_ids and e["user"] not in user_ids:
                continue
            if q.get("earliest") == "true":
                key = (e["escalation_policy"]["id"], e["escalation_level"], e["user"])
                if key in seen:
                    continue
                seen.add(key)
            e = dict(e, user=self._user_ref(e["user"], full="users" in includes))
            entries.append(e)
        return self._page(request, entries, "oncalls")

    def _schedule_json(
        self, schedule: Schedule, since: datetime | None, until: datetime | None
    ) -> JSON:
        policies = [
            self._policy_ref(p)
            for p in self.policies.values()
            if any(("schedule", schedule.id) in level for level in p.levels)
        ]
        body = dict(
            self._schedule_ref(schedule),
            type="schedule",
            name=schedule.name,
            time_zone="Etc/UTC",
            escalation_policies=policies,
            users=[self._user_ref(u) for u in dict.fromkeys(schedule.users)],
            schedule_layers=[
                {
                    "id": f"{schedule.id}_L1",
                    "name": "Layer 1",
                    "start": iso(schedule.start),
                    "rotation_virtual_start": iso(schedule.start),
                    "rotation_turn_length_seconds": int(schedule.rotation.total_seconds()),
                    "users": [{"user": self._user_ref(u)} for u in schedule.users],
                }
            ],
        )
        if since is not None and until is not None:
            rendered = [
                {"start": iso(max(a, since)), "end": iso(min(b, until)), "user": self._user_ref(u)}
                for u, a, b in schedule.segments(since, until)
            ]
            body["final_schedule"] = {
                "name": "Final Schedule",
                "rendered_schedule_entries": rendered,
            }
            body["overrides_subschedule"] = {
                "name": "Overrides",
                "rendered_schedule_entries": [
                    {"start": iso(o.start), "end": iso(o.end), "user": self._user_ref(o.user_id)}
                    for o in schedule.overrides
                    if o.start < until and o.end > since
                ],
            }
        return body

    async def _list_schedules(self, request: web.Request) -> web.Response:
        q = request.query.get("query", "").lower()
        items = [
            self._schedule_json(s, None, None)
            for s in self.schedules.values()
            if q in s.name.lower()
        ]
        return self._page(request, items, "schedules")

    async def _get_schedule(self, request: web.Request) -> web.Response:
        schedule = self.schedules.get(request.match_info["id"])
        if schedule is None:
            return pd_error(404, "Not Found", code=2100)
        q = request.query
        try:
            since = parse_time(q["since"]) if "since" in q else None
            until = parse_time(q["until"]) if "until" in q else None
        except ValueError:
            return pd_error(400, "Invalid Input Provided", "Invalid since or until")
        if since is not None and until is None:
            until = since + timedelta(days=7)
        if until is not None and since is None:
            since = self.now()
        return web.json_response({"schedule": self._schedule_json(schedule, since, until)})

    async def _get_policy(self, request: web.Request) -> web.Response:
        policy = self.policies.get(request.match_info["id"])
        if policy is None:
            return pd_error(404, "Not Found", code=2100)
        rules = []
        for level, targets in enumerate(policy.levels, start=1):
            refs = [
                self._user_ref(tid) if kind == "user" else self._schedule_ref(self.schedules[tid])
                for kind, tid in targets
            ]
            rules.append(
                {
                    "id": f"{policy.id}_R{level}",
                    "escalation_delay_in_minutes": 30,
                    "targets": refs,
                }
            )
        services = [
            self._service_ref(s) for s, v in self.services.items() if v["policy"] == policy.id
        ]
        body = dict(
            self._policy_ref(policy),
            type="escalation_policy",
            name=policy.name,
            escalation_rules=rules,
            services=services,
            num_loops=0,
        )
        return web.json_response({"escalation_policy": body})

    async def _get_service(self, request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        if sid not in self.services:
            return pd_error(404, "Not Found", code=2100)
        service = self.services[sid]
        body = dict(
            self._service_ref(sid),
            type="service",
            name=service["name"],
            status="active",
            escalation_policy=self._policy_ref(self.policies[service["policy"]]),
        )
        return web.json_response({"service": body})

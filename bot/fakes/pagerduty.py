"""A fake PagerDuty that speaks the real wire format over HTTP.

It owns a small in-memory PagerDuty account (users, schedules with one rotation layer and
overrides, escalation policies, services, incidents) and serves the REST API v2 routes the bot
uses, the Events API v2 `/v2/enqueue`, and sends signed v3 webhooks. Tests and the local
sandbox both run it; it rejects what the real API rejects (missing token, missing `From`,
unknown service, duplicate open incident key, escalation beyond the policy) so the client is
exercised against the same failures it will meet in production.

On-call is computed, never stored: a schedule's final schedule at time t is the newest override
covering t, else the rotation layer (users in order, fixed rotation length from a start
instant). The clock is injectable (`now=`) so tests are deterministic.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import json
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import aiohttp
from aiohttp import web

from bot.activity import Activity

JSON = dict[str, Any]
Listener = Callable[[str, JSON], Awaitable[None] | None]

HTML_BASE = "https://fake.pagerduty.com"
# A Monday 09:00 UTC: rotations hand over at a human hour, whatever the clock says.
ROTATION_EPOCH = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def pd_error(status: int, message: str, *errors: str, code: int = 2001) -> web.Response:
    body: JSON = {"error": {"message": message, "code": code}}
    if errors:
        body["error"]["errors"] = list(errors)
    return web.json_response(body, status=status)


def sign(secret: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Call:
    """One request the fake received, as seen on the wire."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]
    status: int = 0


@dataclass
class _Failure:
    path_prefix: str
    status: int
    times: int
    retry_after: int | None
    method: str | None


@dataclass
class Override:
    id: str
    user_id: str
    start: datetime
    end: datetime


@dataclass
class Schedule:
    id: str
    name: str
    users: list[str]  # the rotation layer, in hand-over order
    rotation: timedelta = WEEK
    start: datetime = ROTATION_EPOCH
    overrides: list[Override] = field(default_factory=list)

    def rotation_user(self, t: datetime) -> str | None:
        if not self.users:  # an empty layer: a gap nobody covers (PagerDuty allows it)
            return None
        turns = int((t - self.start) // self.rotation)
        return self.users[turns % len(self.users)]

    def user_at(self, t: datetime) -> str | None:
        # The newest override wins, as in PagerDuty's final schedule.
        for o in reversed(self.overrides):
            if o.start <= t < o.end:
                return o.user_id
        return self.rotation_user(t)

    def segments(self, since: datetime, until: datetime) -> list[tuple[str, datetime, datetime]]:
        """The final schedule's (user, start, end) spans that overlap [since, until].

        Span bounds are the real hand-overs, not clipped to the window, like PagerDuty's
        /oncalls; a point query (since == until) returns the one span covering it."""
        lo, hi = since - self.rotation - WEEK, until + self.rotation + WEEK
        points = {lo, hi}
        turn = self.start + self.rotation * int((lo - self.start) // self.rotation)
        while turn < hi:
            if turn > lo:
                points.add(turn)
            turn += self.rotation
        for o in self.overrides:
            points.update(p for p in (o.start, o.end) if lo < p < hi)
        bounds = sorted(points)
        spans: list[tuple[str, datetime, datetime]] = []
        for a, b in pairwise(bounds):
            who = self.user_at(a)
            if who is None:
                continue
            if spans and spans[-1][0] == who and spans[-1][2] == a:
                spans[-1] = (who, spans[-1][1], b)
            else:
                spans.append((who, a, b))
        # The outermost spans are cut by the padding; only spans meeting the window are kept.
        if since == until:
            return [s for s in spans if s[1] <= since < s[2]]
        return [s for s in spans if s[1] < until and s[2] > since]


@dataclass
class Policy:
    id: str
    name: str
    levels: list[list[tuple[str, str]]]  # per level: ("schedule" | "user", id)


class FakePagerDuty:
    """In-process PagerDuty REST + Events API v2 + v3 webhook sender (see module docstring)."""

    def __init__(
        self,
        *,
        api_key: str = "pd-fake-key",
        webhook_secret: str | None = None,
        webhook_url: str | None = None,
        seed: bool = True,
        now: Callable[[], datetime] | None = None,
        routing_key: str = "R0UTINGKEYFAKE000000000000000000",
        webhooks_for_api_changes: bool = True,
    ) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self.routing_key = routing_key
        # Real PagerDuty sends webhooks for changes made through the API too; the bot must
        # cope with hearing about its own actions, so the fake does the same by default.
        self.webhooks_for_api_changes = webhooks_for_api_changes
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self.latency = 0.0
        self.calls: list[Call] = []
        self.users: dict[str, JSON] = {}
        self.schedules: dict[str, Schedule] = {}
        self.policies: dict[str, Policy] = {}
        self.services: dict[str, JSON] = {}
        self.incidents: dict[str, JSON] = {}
        self.notes: dict[str, list[JSON]] = {}
        self.webhook_deliveries: list[tuple[str, int]] = []  # (event_type, HTTP status)
        self._failures: list[_Failure] = []
        self._listeners: list[Listener] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        # the webhooks it is sending the app: the settle signal
        self.activity = Activity("fake pagerduty", fake=True)
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.api_url = ""
        self._prefix = ""  # the mount prefix, stripped so calls/fail() see API paths
        self.events_url = ""
        self.app = self._build_app()
        if seed:
            self._seed()

    # ---------------------------------------------------------------- account set-up

    def add_user(self, user_id: str, name: str, email: str) -> None:
        self.users[user_id] = {
            "id": user_id,
            "type": "user",
            "summary": name,
            "name": name,
            "email": email,
            "time_zone": "Etc/UTC",
            "role": "user",
            "self": f"{self.api_url}/users/{user_id}",
            "html_url": f"{HTML_BASE}/users/{user_id}",
        }

    def add_schedule(
        self, schedule_id: str, name: str, users: list[str], rotation: timedelta = WEEK
    ) -> None:
        self.schedules[schedule_id] = Schedule(schedule_id, name, users, rotation)

    def add_policy(self, policy_id: str, name: str, levels: list[list[tuple[str, str]]]) -> None:
        self.policies[policy_id] = Policy(policy_id, name, levels)

    def add_service(self, service_id: str, name: str, policy_id: str) -> None:
        self.services[service_id] = {"id": service_id, "name": name, "policy": policy_id}

    def set_override(self, schedule_id: str, user_id: str, start: datetime, end: datetime) -> None:
        schedule = self.schedules[schedule_id]
        schedule.overrides.append(
            Override(f"PO{len(schedule.overrides) + 1:05d}", user_id, start, end)
        )

    def _seed(self) -> None:
        for uid, name, email in [
            ("PU_ALICE", "Alice Example", "alice@example.com"),
            ("PU_BOB", "Bob Example", "bob@example.com"),
            ("PU_CAROL", "Carol Example", "carol@example.com"),
            ("PU_DAVE", "Dave Example", "dave@example.com"),
            ("PU_ERIN", "Erin Example", "erin@example.com"),  # no Slack account
        ]:
            self.add_user(uid, name, email)
        self.add_schedule("PS_BACKEND", "Backend Primary", ["PU_ALICE", "PU_BOB"])
        self.add_schedule("PS_PLATFORM", "Platform", ["PU_ERIN", "PU_CAROL"])
        self.add_policy(
            "PEP_MAIN",
            "Backend escalation",
            [[("schedule", "PS_BACKEND")], [("schedule", "PS_PLATFORM")], [("user", "PU_DAVE")]],
        )
        self.add_service("PSVC_MAIN", "Backend API", "PEP_MAIN")
        # Carol covers the first day of the next Backend Primary shift, so "who is next"
        # shows an override.
        backend = self.schedules["PS_BACKEND"]
        t = self.now()
        handover = backend.start + backend.rotation * (
            int((t - backend.start) // backend.rotation) + 1
        )
        self.set_override("PS_BACKEND", "PU_CAROL", handover, handover + timedelta(days=1))

    # ---------------------------------------------------------------- server lifecycle

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get("/abilities", self._abilities)
        r.add_get("/users", self._list_users)
        r.add_get("/users/me", self._users_me)
        r.add_get("/users/{id}", self._get_user)
        r.add_get("/oncalls", self._oncalls)
        r.add_get("/schedules", self._list_schedules)
        r.add_get("/schedules/{id}", self._get_schedule)
        r.add_get("/escalation_policies/{id}", self._get_policy)
        r.add_get("/services/{id}", self._get_service)
        r.add_post("/incidents", self._create_incident)
        r.add_get("/incidents", self._list_incidents)
        r.add_get("/incidents/{id}", self._get_incident)
        r.add_put("/incidents/{id}", self._update_incident)
        r.add_post("/incidents/{id}/notes", self._add_note)
        r.add_post("/v2/enqueue", self._enqueue)
        return app

    def _set_base(self, base_url: str) -> None:
        self.base_url = self.api_url = self.events_url = base_url.rstrip("/")
        for user in self.users.values():
            user["self"] = f"{self.api_url}/users/{user['id']}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        real_port = self._runner.addresses[0][1]
        self._set_base(f"http://{host}:{real_port}")
        self.activity.start()
        return self.base_url

    def mount(self, parent: web.Application, prefix: str, base_url: str) -> None:
        """Serve under `prefix` of another app (the sandbox) reachable at `base_url`."""
        parent.add_subapp(prefix, self.app)
        self._prefix = "/" + prefix.strip("/")
        self._set_base(base_url.rstrip("/") + "/" + prefix.strip("/"))

        async def begin(_: web.Application) -> None:
            self.activity.start()

        async def end(_: web.Application) -> None:
            self.activity.stop()

        parent.on_startup.append(begin)
        parent.on_cleanup.append(end)

    async def stop(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.activity.stop()

    async def drain(self) -> None:
        """Wait for webhooks the fake is still sending."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ---------------------------------------------------------------- test controls

    def calls_to(self, method: str, path_prefix: str) -> list[Call]:
        return [
            c for c in self.calls if c.method == method.upper() and c.path.startswith(path_prefix)
        ]

    def fail(
        self,
        path_prefix: str,
        *,
        status: int = 500,
        times: int = 1,
        retry_after: int | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next `times` requests under `path_prefix` with `status`."""
        self._failures.append(
            _Failure(path_prefix, status, times, retry_after, method and method.upper())
        )

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Hear incident_triggered / _acknowledged / _escalated / _resolved (sandbox panel)."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    async def _emit(self, name: str, incident: JSON) -> None:
        for listener in list(self._listeners):
            result = listener(name, incident)
            if inspect.isawaitable(result):
                await result

    # ---------------------------------------------------------------- middleware

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        query: dict[str, list[str]] = {}
        for k, v in request.query.items():
            query.setdefault(k, []).append(v)
        path = request.path.removeprefix(self._prefix)
        call = Call(request.method, path, query, body, dict(request.headers))
        self.calls.append(call)
        if self.latency:
            await asyncio.sleep(self.latency)  # simulated network/server time, not a sync wait
        response = self._injected_failure(request) or await self._authorized(request, handler)
        call.status = response.status
        return response

    def _injected_failure(self, request: web.Request) -> web.Response | None:
        for f in self._failures:
            path = request.path.removeprefix(self._prefix)
            if f.times > 0 and path.startswith(f.path_prefix):
                if f.method and f.method != request.method:
                    continue
                f.times -= 1
                headers = {"Retry-After": str(f.retry_after)} if f.retry_after is not None else {}
                message = "Rate Limit Exceeded" if f.status == 429 else "Internal Server Error"
                return web.json_response(
                    {"error": {"message": message, "code": 2020 if f.status == 429 else 2001}},
                    status=f.status,
                    headers=headers,
                )
        return None

    async def _authorized(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.endswith("/v2/enqueue"):
            return await handler(request)  # the Events API authenticates by routing_key
        auth = request.headers.get("Authorization", "")
        if auth not in (f"Token token={self.api_key}", f"Bearer {self.api_key}"):
            return pd_error(401, "Unauthorized", code=2001)
        accept = request.headers.get("Accept", "")
        if "vnd.pagerduty+json" in accept and "version=2" not in accept:
            return pd_error(406, "Unsupported API version", code=2001)
        return await handler(request)

    # ---------------------------------------------------------------- representations

    def _user_ref(self, user_id: str, *, full: bool = False) -> JSON:
        user = self.users[user_id]
        if full:
            return dict(user)
        return {
            "id": user_id,
            "type": "user_reference",
            "summary": user["name"],
            "self": user["self"],
            "html_url": user["html_url"],
        }

    def _schedule_ref(self, schedule: Schedule) -> JSON:
        return {
            "id": schedule.id,
            "type": "schedule_reference",
            "summary": schedule.name,
            "self": f"{self.api_url}/schedules/{schedule.id}",
            "html_url": f"{HTML_BASE}/schedules/{schedule.id}",
        }

    def _policy_ref(self, policy: Policy) -> JSON:
        return {
            "id": policy.id,
            "type": "escalation_policy_reference",
            "summary": policy.name,
            "self": f"{self.api_url}/escalation_policies/{policy.id}",
            "html_url": f"{HTML_BASE}/escalation_policies/{policy.id}",
        }

    def _service_ref(self, service_id: str) -> JSON:
        return {
            "id": service_id,
            "type": "service_reference",
            "summary": self.services[service_id]["name"],
            "self": f"{self.api_url}/services/{service_id}",
            "html_url": f"{HTML_BASE}/service-directory/{service_id}",
        }

    @staticmethod
    def _page(request: web.Request, items: list[JSON], wrapper: str) -> web.Response:
        """Classic offset/limit pagination, as PagerDuty's index endpoints do it."""
        try:
            limit = min(int(request.query.get("limit", 25)), 100)
            offset = int(request.query.get("offset", 0))
        except ValueError:
            return pd_error(400, "Invalid Input Provided", "limit and offset must be integers")
        if limit < 1 or offset < 0:
            return pd_error(400, "Invalid Input Provided", "Invalid limit or offset")
        chunk = items[offset : offset + limit]
        total = len(items) if request.query.get("total") in ("true", "1") else None
        return web.json_response(
            {
                wrapper: chunk,
                "limit": limit,
                "offset": offset,
                "more": offset + len(chunk) < len(items),
                "total": total,
            }
        )

    # ---------------------------------------------------------------- users, abilities

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

    # ---------------------------------------------------------------- on-call

    def oncall_entries(self, since: datetime, until: datetime) -> list[JSON]:
        """Every on-call in the account for [since, until], unfiltered (PagerDuty order)."""
        entries: list[JSON] = []
        for policy in self.policies.values():
            for level, targets in enumerate(policy.levels, start=1):
                for kind, target_id in targets:
                    if kind == "user":
                        # A user targeted directly is always on call: no start or end.
                        spans: Iterable[tuple[str, datetime | None, datetime | None]] = [
                            (target_id, None, None)
                        ]
                        schedule = None
                    else:
                        schedule = self.schedules[target_id]
                        spans = schedule.segments(since, until)
                    for user_id, start, end in spans:
                        entries.append(
                            {
                                "escalation_policy": self._policy_ref(policy),
                                "escalation_level": level,
                                "schedule": schedule and self._schedule_ref(schedule),
                                "user": user_id,
                                "start": iso(start),
                                "end": iso(end),
                            }
                        )
        return entries

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

    # ---------------------------------------------------------------- incidents

    def _oncall_users(self, policy_id: str, level: int, at: datetime) -> list[str]:
        users: list[str] = []
        for kind, tid in self.policies[policy_id].levels[level - 1]:
            uid = tid if kind == "user" else self.schedules[tid].user_at(at)
            if uid is not None and uid not in users:
                users.append(uid)
        return users

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
        body = await _json_body(request)
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
        body = await _json_body(request)
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
        body = await _json_body(request)
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

    def _user_by_email(self, email: str) -> str | None:
        return next((u["id"] for u in self.users.values() if u["email"] == email), None)

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

    # ---------------------------------------------------------------- Events API v2

    async def _enqueue(self, request: web.Request) -> web.Response:
        body = await _json_body(request)

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


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None

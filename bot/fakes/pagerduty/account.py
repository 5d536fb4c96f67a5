"""The account's state (users, schedules, escalation policies, services, incidents), its
set-up, the references PagerDuty answers with, and who is on call (computed, never
stored)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from bot.core.activity import Activity
from bot.fakes.pagerduty.model import (
    HTML_BASE,
    JSON,
    WEEK,
    Call,
    Failure,
    Listener,
    Override,
    Policy,
    Schedule,
    iso,
)


class Account:
    """One pretend PagerDuty account."""

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
        self._failures: list[Failure] = []
        self._listeners: list[Listener] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        # the webhooks it is sending the app: the settle signal
        self.activity = Activity("fake pagerduty", fake=True)
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.api_url = ""
        self._prefix = ""  # the mount prefix, stripped so calls/fail() see API paths
        self.events_url = ""
        self.app = web.Application(middlewares=self._middlewares())
        self.app.add_routes(self._routes())
        if seed:
            self._seed()

    def _middlewares(self) -> list[Middleware]:
        return []

    def _routes(self) -> list[web.AbstractRouteDef]:
        """The REST and Events API routes (FakePagerDuty names them: the APIs own them)."""
        return []

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
        return self._ref("schedule", schedule.id, schedule.name, "schedules")

    def _policy_ref(self, policy: Policy) -> JSON:
        return self._ref("escalation_policy", policy.id, policy.name, "escalation_policies")

    def _service_ref(self, service_id: str) -> JSON:
        name = self.services[service_id]["name"]
        return self._ref("service", service_id, name, "services", html="service-directory")

    def _ref(self, kind: str, id: str, summary: str, path: str, *, html: str = "") -> JSON:
        """A `<kind>_reference`: its API address under `path`, its web page under `html`."""
        return {
            "id": id,
            "type": f"{kind}_reference",
            "summary": summary,
            "self": f"{self.api_url}/{path}/{id}",
            "html_url": f"{HTML_BASE}/{html or path}/{id}",
        }

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

    def _oncall_users(self, policy_id: str, level: int, at: datetime) -> list[str]:
        users: list[str] = []
        for kind, tid in self.policies[policy_id].levels[level - 1]:
            uid = tid if kind == "user" else self.schedules[tid].user_at(at)
            if uid is not None and uid not in users:
                users.append(uid)
        return users

    def _user_by_email(self, email: str) -> str | None:
        return next((u["id"] for u in self.users.values() if u["email"] == email), None)

"""The PagerDuty client: every PagerDuty call, over pdpyras (whose sessions are in
sessions.py, the one module importing it, loaded at the first call: not at start-up).

pdpyras is synchronous (requests) and deprecated upstream, so it stays in here, run in a few
threads of its own (`workers`, each keeping its sessions), never on the event loop nor in
asyncio's default pool: a burst of pages queues there instead of crowding the loop out of
the GIL. Callers get plain pydantic models and `PagingError` (models.py). Swapping the
client later touches this file and sessions.py only. A page is one POST /incidents (its 201
answer is the incident, with its assignees as user references; their emails come from a
cache of users, one GET a user an hour); an acknowledge or an escalation is one PUT, whose
answer is the incident too.

Retry policy (DESIGN rule 5): pdpyras would sleep in its thread and retry 429 forever. Here
a request is one attempt (sessions.py), except idempotent GETs, which get one quick retry on
5xx or a network error. Everything else surfaces as `PagingError(retryable=...)`, with
`retry_after` from a 429, and the durable scheduler owns backoff. Paging stays safe to retry
because every page carries an `incident_key`: a retry of a page that did land finds the open
incident instead of paging twice.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from cachetools import TTLCache
from prometheus_client import Counter
from pydantic import ValidationError

from bot.core.pagerduty import wire
from bot.core.pagerduty.models import (
    EscalationLevel,
    OnCallEntry,
    PagerDutyUser,
    PageResult,
    PagingError,
    PDIncident,
    PDService,
    split_now_next,
)

if TYPE_CHECKING:
    from bot.core.pagerduty.sessions import EventsSession, PDHTTPError, RestSession

T = TypeVar("T")
JSON = dict[str, Any]
_PD_ACCEPT = "application/vnd.pagerduty+json;version=2"
WORKERS = 4  # threads for PagerDuty calls: pages queue here, the event loop keeps the GIL
USER_TTL = 3600.0  # seconds a PagerDuty user (name, email) is known without asking again


def _in_worker(fn: Callable[..., T], *args: Any) -> T:
    """`fn` in a PagerDuty worker thread, pdpyras' and requests' errors as PagingError.

    The first call of the process imports pdpyras and requests (sessions.py: why not at
    start-up) here, in the worker, so the event loop never waits on that import."""
    from bot.core.pagerduty import sessions

    try:
        return fn(*args)
    except sessions.CLIENT_ERRORS as exc:
        raise _as_paging_error(exc) from exc


def _as_paging_error(exc: Exception) -> PagingError:
    if isinstance(exc, PagingError):
        return exc
    response: Any = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if response is None or status is None:
        return PagingError(str(exc), retryable=True)
    retry_after: float | None = None
    if status == 429:
        try:
            retry_after = float(response.headers.get("Retry-After", ""))
        except ValueError:
            retry_after = None
    retryable = status in (408, 429) or status >= 500
    return PagingError(str(exc), retryable=retryable, status=status, retry_after=retry_after)


def _http_error() -> type[PDHTTPError]:
    """pdpyras' PDHTTPError, for the calls that tell one answer from the others (a
    duplicate key, a 404); only ever asked in a worker, after `_in_worker` imported it."""
    from bot.core.pagerduty import sessions

    return sessions.PDHTTPError


def _is_duplicate_key(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    if getattr(response, "status_code", None) != 400:
        return False
    return "already exists" in str(getattr(response, "text", "")).lower()


# ---------------------------------------------------------------- parsing helpers


# ---------------------------------------------------------------- the client


class PagerDuty:
    """Async PagerDuty client (REST API v2 + Events API v2) over pdpyras in its own threads."""

    def __init__(
        self,
        api_key: str,
        *,
        api_url: str,
        events_url: str,
        from_email: str | None,
        timeout: float = 5.0,
        routing_key: str | None = None,
        errors: Counter | None = None,
        workers: int = WORKERS,
    ) -> None:
        # incident_bot_pagerduty_api_errors_total{status} (bot/core/metrics.py), when given
        self.errors = errors
        self._api_key = api_key
        self._api_url = api_url.rstrip("/")
        self._events_url = events_url.rstrip("/")
        self._from_email = from_email
        self._timeout = timeout
        self._routing_key = routing_key
        # requests.Session is not promised to be thread-safe: each of the pool's threads
        # keeps its own sessions (REST, and Events per routing key), reused call after call
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None  # made at the first call
        self._local = threading.local()
        # PagerDuty users by id, for the emails a reference lacks; read from the threads
        self._users: TTLCache[str, PagerDutyUser] = TTLCache(maxsize=4096, ttl=USER_TTL)
        self._users_lock = threading.Lock()
        # a schedule's escalation policies, for an hour; read from the worker threads
        self._schedule_policies: TTLCache[str, set[str]] = TTLCache(maxsize=1024, ttl=3600)
        self._policies_lock = threading.Lock()

    # ------------------------------------------------------------ plumbing

    def _rest(self) -> RestSession:
        session: RestSession | None = getattr(self._local, "rest", None)
        if session is None:
            from bot.core.pagerduty import sessions  # imported by `_in_worker` already

            session = sessions.rest_session(
                self._api_key,
                from_email=self._from_email,
                url=self._api_url,
                timeout=self._timeout,
                accept=_PD_ACCEPT,
            )
            self._local.rest = session
        return session

    def _events(self, routing_key: str) -> EventsSession:
        known: dict[str, EventsSession] = self._local.__dict__.setdefault("events", {})
        if routing_key not in known:
            from bot.core.pagerduty import sessions  # imported by `_in_worker` already

            known[routing_key] = sessions.events_session(
                routing_key, url=self._events_url, timeout=self._timeout
            )
        return known[routing_key]

    def close(self) -> None:
        """Let the pool's threads go (a later call starts a new pool)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="pagerduty")
        # the log context goes along
        call = functools.partial(contextvars.copy_context().run, _in_worker, fn, *args)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, call)
        except PagingError as exc:
            self._failed(exc)
            raise
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            # A response we could not read: retrying will not make it readable.
            error = PagingError(f"unexpected PagerDuty response: {exc!r}", retryable=False)
            raise self._failed(error, "invalid") from exc

    def _failed(self, exc: PagingError, status: str | None = None) -> PagingError:
        if self.errors is not None:
            self.errors.labels(status or (str(exc.status) if exc.status else "network")).inc()
        return exc

    # ------------------------------------------------------------ incidents

    async def page(
        self,
        *,
        service_id: str,
        escalation_policy_id: str | None,
        incident_key: str,
        title: str,
        details: str,
        urgency: str = "high",
        assignee_ids: list[str] | None = None,
    ) -> PageResult:
        """Open a PagerDuty incident, or find the open one with this key (created=False).
        With `assignee_ids` (PagerDuty users) it is assigned to them instead of a policy."""
        return await self._run(
            self._page,
            service_id,
            escalation_policy_id,
            incident_key,
            title,
            details,
            urgency,
            assignee_ids,
        )

    def _page(
        self,
        service_id: str,
        policy_id: str | None,
        key: str,
        title: str,
        details: str,
        urgency: str,
        assignee_ids: list[str] | None = None,
    ) -> PageResult:
        incident: JSON = {
            "type": "incident",
            "title": title[:1024],
            "service": {"id": service_id, "type": "service_reference"},
            "urgency": urgency,
            "incident_key": key,
            "body": {"type": "incident_body", "details": details},
        }
        if assignee_ids:  # PagerDuty refuses assignments together with a policy
            incident["assignments"] = [
                {"assignee": {"id": uid, "type": "user_reference"}} for uid in assignee_ids
            ]
        elif policy_id:
            incident["escalation_policy"] = {"id": policy_id, "type": "escalation_policy_reference"}
        created = True
        try:
            body = self._rest().rpost("/incidents", json={"incident": incident})
        except _http_error() as exc:
            if not _is_duplicate_key(exc):
                raise
            created = False
            body = self._find_open(key)
            if body is None:  # resolved between the 400 and the lookup: try once more later
                raise PagingError(
                    f"incident key {key} exists but no open incident found", retryable=True
                ) from exc
        found = self._with_emails(wire.incident(body))  # the answer is the incident
        shown = found.model_dump(include={"incident_number", "html_url", "status", "assignees"})
        return PageResult(
            incident_id=found.id, escalation_level=found.escalation_level, created=created, **shown
        )

    def _with_emails(self, incident: PDIncident) -> PDIncident:
        """The incident with its assignees' emails: a user reference has none, the users'
        cache (or one GET /users/{id} per user not in it) has them."""
        assignees = [u if u.email else self._user(u.id) for u in incident.assignees]
        return incident.model_copy(update={"assignees": assignees})

    def _user(self, user_id: str) -> PagerDutyUser:
        with self._users_lock:
            known = self._users.get(user_id)
        if known is None:
            known = wire.user(self._rest().rget(f"/users/{user_id}"))
            with self._users_lock:
                self._users[user_id] = known
        return known

    def _find_open(self, key: str) -> JSON | None:
        params = {
            "incident_key": key,
            "statuses": ["triggered", "acknowledged"],
            "date_range": "all",
        }
        for body in self._rest().iter_all("/incidents", params=params):
            return dict(body)
        return None

    async def get_incident(self, incident_id: str) -> PDIncident:
        return await self._run(self._get_incident, incident_id)

    def _get_incident(self, incident_id: str) -> PDIncident:
        params = {"include": ["assignees", "acknowledgers"]}
        return wire.incident(self._rest().rget(f"/incidents/{incident_id}", params=params))

    async def escalate(self, incident_id: str, level: int) -> PDIncident:
        """Reassign to `level` of the incident's policy (PUT escalation_level)."""

        def run() -> PDIncident:
            body = {"type": "incident", "escalation_level": level}
            answer = self._rest().rput(f"/incidents/{incident_id}", json=body)
            return self._with_emails(wire.incident(answer, level))

        return await self._run(run)

    async def acknowledge(self, incident_id: str) -> PDIncident:
        def run() -> PDIncident:
            answer = self._rest().rput(
                f"/incidents/{incident_id}", json={"type": "incident", "status": "acknowledged"}
            )
            return self._with_emails(wire.incident(answer))

        return await self._run(run)

    async def resolve(self, incident_id: str, *, note: str | None = None) -> None:
        """Resolve; `note` goes in as the resolution, so the call stays one idempotent PUT."""
        body: JSON = {"type": "incident", "status": "resolved"}
        if note:
            body["resolution"] = note
        await self._run(lambda: self._rest().rput(f"/incidents/{incident_id}", json=body))

    async def add_note(self, incident_id: str, content: str) -> None:
        """Not idempotent: a retry after a lost response can post the note twice."""
        note = {"content": content}
        await self._run(lambda: self._rest().rpost(f"/incidents/{incident_id}/notes", json=note))

    # ------------------------------------------------------------ on-call

    async def oncalls(
        self,
        *,
        schedule_ids: list[str],
        escalation_policy_ids: list[str],
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[OnCallEntry]:
        """On-calls for these schedules and policies, in ONE paginated /oncalls walk.

        PagerDuty ANDs /oncalls filters, and schedules only appear there through a policy, so
        asking for `schedule_ids[]` and `escalation_policy_ids[]` together would drop the
        policy's direct-user levels and any schedule of another policy. So the walk filters by
        policy only: the given ones plus each schedule's policies (looked up once an hour per
        schedule, cached), and the union is cut back to what was asked here."""
        return await self._run(self._oncalls, schedule_ids, escalation_policy_ids, since, until)

    def _oncalls(
        self,
        schedule_ids: list[str],
        policy_ids: list[str],
        since: datetime | None,
        until: datetime | None,
    ) -> list[OnCallEntry]:
        policies = set(policy_ids)
        for sid in schedule_ids:
            policies |= self._policies_of(sid)
        params: JSON = {"include": ["users"]}
        if policies:
            params["escalation_policy_ids"] = sorted(policies)
        elif schedule_ids:
            params["schedule_ids"] = list(schedule_ids)
        else:
            return []
        if since is not None:
            params["since"] = wire.iso(since)
            params["until"] = wire.iso(until or since)
        entries = [wire.oncall(e) for e in self._rest().iter_all("/oncalls", params=params)]
        wanted_schedules, wanted_policies = set(schedule_ids), set(policy_ids)
        return [
            e
            for e in entries
            if e.policy_id in wanted_policies or (e.schedule_id in wanted_schedules)
        ]

    def _policies_of(self, schedule_id: str) -> set[str]:
        with self._policies_lock:
            cached = self._schedule_policies.get(schedule_id)
        if cached:
            return cached
        schedule = self._rest().rget(f"/schedules/{schedule_id}")
        found = {p["id"] for p in schedule.get("escalation_policies") or []}
        with self._policies_lock:
            self._schedule_policies[schedule_id] = found
        return found

    async def oncall_now_and_next(
        self,
        *,
        schedule_ids: list[str],
        escalation_policy_ids: list[str],
        now: datetime | None = None,
        horizon: timedelta = timedelta(days=7),
    ) -> tuple[list[OnCallEntry], list[OnCallEntry]]:
        """Who is on call now and who is next (with handover = current entry's end)."""
        now = now or datetime.now(UTC)
        entries = await self.oncalls(
            schedule_ids=schedule_ids,
            escalation_policy_ids=escalation_policy_ids,
            since=now,
            until=now + horizon,
        )
        return split_now_next(entries, now)

    async def escalation_policy(self, policy_id: str) -> list[EscalationLevel]:
        def run() -> list[EscalationLevel]:
            policy = self._rest().rget(f"/escalation_policies/{policy_id}")
            levels = []
            for n, rule in enumerate(policy.get("escalation_rules") or [], start=1):
                targets = [
                    f"{t['type'].removesuffix('_reference')}:{t['id']}"
                    for t in rule.get("targets") or []
                ]
                levels.append(EscalationLevel(level=n, targets=targets))
            return levels

        return await self._run(run)

    # ------------------------------------------------------------ escalation steps' pages

    async def target_kind(self, target_id: str) -> Literal["escalation_policy", "schedule"]:
        """Whether a PagerDuty ID names an escalation policy or a schedule (both are P…
        IDs); PagingError(status=404) when it names neither."""

        def run() -> Literal["escalation_policy", "schedule"]:
            try:
                self._rest().rget(f"/escalation_policies/{target_id}")
                return "escalation_policy"
            except _http_error() as exc:
                if exc.response is None or exc.response.status_code != 404:
                    raise
            self._rest().rget(f"/schedules/{target_id}")
            return "schedule"

        return await self._run(run)

    async def oncall_user_ids(self, schedule_id: str) -> list[str]:
        """Who is on call in a schedule right now (PagerDuty user IDs)."""
        now, _ = await self.oncall_now_and_next(
            schedule_ids=[schedule_id], escalation_policy_ids=[], horizon=timedelta(minutes=1)
        )
        return list(dict.fromkeys(e.user.id for e in now if e.schedule_id == schedule_id))

    async def schedules(self) -> dict[str, str]:
        """Every schedule in the account: ID -> name."""

        def run() -> dict[str, str]:
            return {s["id"]: s["name"] for s in self._rest().iter_all("/schedules")}

        return await self._run(run)

    async def schedule_name(self, schedule_id: str) -> str:
        return await self._run(lambda: str(self._rest().rget(f"/schedules/{schedule_id}")["name"]))

    async def user(self, user_id: str) -> PagerDutyUser:
        return await self._run(self._user, user_id)

    async def check(self) -> None:
        """Raise PagingError unless the token works (GET /abilities: any valid token may)."""
        await self._run(lambda: self._rest().rget("/abilities"))

    # ------------------------------------------------------------ set-up checks (bot/doctor/)

    async def service(self, service_id: str) -> PDService:
        """The service and its escalation policy; PagingError(status=404) when unknown."""

        def run() -> PDService:
            body = self._rest().rget(f"/services/{service_id}")
            policy = body.get("escalation_policy") or {}
            return PDService(
                id=body["id"],
                name=body.get("name") or body.get("summary") or body["id"],
                escalation_policy_id=policy.get("id"),
                escalation_policy_name=policy.get("summary") or policy.get("name"),
            )

        return await self._run(run)

    async def server_date(self) -> float:
        """PagerDuty's clock: the `Date` header of one GET /abilities, as epoch seconds
        (whole seconds, as HTTP dates are)."""

        def run() -> float:
            response = self._rest().get("/abilities")
            if response.status_code >= 400:
                raise PagingError(
                    f"GET /abilities: HTTP {response.status_code}",
                    retryable=response.status_code >= 500,
                    status=response.status_code,
                )
            date = response.headers.get("Date")
            if not date:
                raise PagingError("PagerDuty sent no Date header", retryable=False)
            return parsedate_to_datetime(date).timestamp()

        return await self._run(run)

    # ------------------------------------------------------------ Events API v2

    async def send_event(
        self,
        action: Literal["trigger", "acknowledge", "resolve"],
        *,
        dedup_key: str,
        summary: str = "",
        source: str = "incident-bot",
        severity: str = "critical",
        routing_key: str | None = None,
    ) -> str:
        """Events API v2 (for alert-driven pages); returns the dedup key PagerDuty used."""
        key = routing_key or self._routing_key
        if not key:
            raise PagingError("no Events API routing key configured", retryable=False)

        def run() -> str:
            session = self._events(key)
            if action == "trigger":
                return str(session.trigger(summary, source, dedup_key=dedup_key, severity=severity))
            return str(session.send_event(action, dedup_key=dedup_key))

        return await self._run(run)

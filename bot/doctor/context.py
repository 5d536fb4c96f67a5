"""One doctor run: what is checked (`Setup`), the answers several checks share, and the
line each check fills in.

Checks that need the same answer (auth.test, the channel list, the PagerDuty token) share
one request (`Context.answer`); a failure comes back as a value, for each check to word.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import Any, TypeVar

from bot.core.config import IncidentConfig, Settings
from bot.core.errors import StoreUnavailable
from bot.core.models import CheckResult, CheckStatus
from bot.core.pagerduty import PagerDuty, PagingError, PDService
from bot.core.slack import Slack, SlackError
from bot.core.store import RedisFacts, Store
from bot.doctor.manifest import manifest_path
from bot.preflight import SetupError, preflight

DEFAULT_TIMEOUT = 5.0  # seconds each check may take

T = TypeVar("T")
E = TypeVar("E", bound=Exception)


@dataclass
class Setup:
    """The parts the doctor looks at: the running bot's, or ones the CLI built."""

    settings: Settings
    store: Store
    slack: Slack | None  # None: SLACK_BOT_TOKEN is not set
    pagerduty: PagerDuty | None  # None: PAGERDUTY_API_KEY is not set
    # the running bot's config; None (the CLI): whatever INCIDENT_CONFIG holds now
    config: IncidentConfig | None = None
    manifest: Path = field(default_factory=manifest_path)
    clock: Callable[[], float] = time.time  # for the clock-skew lines; tests shift it


@dataclass(frozen=True)
class Auth:
    """auth.test's answer, its headers, and when it was asked and answered (our clock)."""

    data: dict[str, Any]
    headers: dict[str, str]
    sent: float
    received: float

    @property
    def handle(self) -> str:
        return f"@{self.data.get('user') or 'your-bot'}"

    @property
    def scopes(self) -> set[str] | None:
        raw = self.headers.get("x-oauth-scopes")
        if raw is None:
            return None
        return {s.strip() for s in raw.split(",") if s.strip()}


class Context:
    """One doctor run: the setup, the config in effect, and answers checks share."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.settings = setup.settings
        path = self.settings.incident_config
        self.config_where = (
            f"{path} (INCIDENT_CONFIG)" if path else "a config file (INCIDENT_CONFIG)"
        )
        self._shared: dict[str, asyncio.Future[Any]] = {}

    @cached_property
    def _file(self) -> tuple[IncidentConfig | None, str | None]:
        """The config file as start-up would find it now (bot/preflight.py), and what is
        wrong with it; read when a check asks, not for every run (the start-up check of
        the procedure's targets has the running bot's)."""
        try:
            return preflight(self.settings.incident_config).config, None
        except SetupError as exc:
            return exc.config, str(exc)  # the file parsed; what it refers to did not pass

    @property
    def on_disk(self) -> IncidentConfig | None:
        return self._file[0]

    @property
    def config_error(self) -> str | None:
        return self._file[1]

    @property
    def config(self) -> IncidentConfig | None:
        """The running bot's config is what is live; the CLI has only the file."""
        return self.setup.config if self.setup.config is not None else self.on_disk

    @property
    def slack(self) -> Slack:
        """The Slack client, for checks that run only when SLACK_BOT_TOKEN is set."""
        assert self.setup.slack is not None
        return self.setup.slack

    @property
    def pagerduty(self) -> PagerDuty:
        """The PagerDuty client, for checks that run only when PAGERDUTY_API_KEY is set."""
        assert self.setup.pagerduty is not None
        return self.setup.pagerduty

    def where(self, keys: tuple[str, ...]) -> str:
        """Where in the config file something is set, for a fix to point at."""
        return f"{' / '.join(keys)} in {self.config_where}"

    async def shared(self, key: str, make: Callable[[], Awaitable[Any]]) -> Any:
        """One request for every check that needs it. Shielded: a check that times out
        does not cancel the request the others are waiting on."""
        task = self._shared.get(key)
        if task is None:
            task = self._shared[key] = asyncio.ensure_future(make())
        return await asyncio.shield(task)

    async def answer(self, key: str, call: Callable[[], Awaitable[T]], error: type[E]) -> T | E:
        """`shared`, with a failure (`error`) coming back as a value, for the checks to word."""

        async def caught() -> T | E:
            try:
                return await call()
            except error as exc:
                return exc

        result: T | E = await self.shared(key, caught)
        return result

    def close(self) -> None:
        for task in self._shared.values():
            if not task.done():
                task.cancel()

    # -- answers several checks share

    async def auth(self) -> Auth | SlackError:
        slack = self.slack

        async def call() -> Auth:
            sent = self.setup.clock()
            data, headers = await slack.auth_test_with_headers()
            return Auth(data, headers, sent, self.setup.clock())

        return await self.answer("auth", call, SlackError)

    async def pd_token(self) -> PagingError | None:
        return await self.answer("pd_token", self.pagerduty.check, PagingError)

    async def pd_service(self) -> PDService | PagingError | None:
        pd, config = self.pagerduty, self.config
        service_id = config.pagerduty.service_id if config else None
        if service_id is None:
            return None
        return await self.answer("pd_service", partial(pd.service, service_id), PagingError)

    async def redis(self) -> RedisFacts | StoreUnavailable:
        return await self.answer("redis", self.setup.store.server_facts, StoreUnavailable)


class Line:
    """Builds one check's CheckResult: the group and name are fixed, the verdict is not."""

    def __init__(self, group: str, name: str) -> None:
        self.group, self.name = group, name

    def _result(self, status: CheckStatus, detail: str, fix: str = "") -> CheckResult:
        return CheckResult(group=self.group, name=self.name, status=status, detail=detail, fix=fix)

    def ok(self, detail: str) -> CheckResult:
        return self._result("ok", detail)

    def warn(self, detail: str, fix: str) -> CheckResult:
        return self._result("warn", detail, fix)

    def fail(self, detail: str, fix: str) -> CheckResult:
        return self._result("fail", detail, fix)

    def skip(self, detail: str) -> CheckResult:
        return self._result("skip", detail)


CheckFn = Callable[[Context, Line], Awaitable[CheckResult]]


@dataclass(frozen=True)
class Check:
    line: Line
    run: CheckFn
    timeout_fix: str  # what to look at when this check gets no answer in time

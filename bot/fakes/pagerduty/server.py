"""Serving the account over HTTP: start or mount, the calls as seen, injected failures,
the token and API-version checks PagerDuty makes, its error body and offset paging."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from bot.fakes.pagerduty.account import Account
from bot.fakes.pagerduty.model import JSON, Call, Failure, Listener


def pd_error(status: int, message: str, *errors: str, code: int = 2001) -> web.Response:
    body: JSON = {"error": {"message": message, "code": code}}
    if errors:
        body["error"]["errors"] = list(errors)
    return web.json_response(body, status=status)


async def json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


class Server(Account):
    """The HTTP side: lifecycle, test controls, middleware."""

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
            Failure(path_prefix, status, times, retry_after, method and method.upper())
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

    def _middlewares(self) -> list[Middleware]:
        return [self._middleware]

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

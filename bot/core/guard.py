"""The HTTP front door: what a client may cost us before it has proved who it is.

- Headers must arrive within `HTTP_READ_TIMEOUT` of connecting (or of the last answer on a
  kept-alive connection): aiohttp's keep-alive timer, which closes a connection that has
  not sent a whole request by then (aiohttp >= 3.14.4).
- A body must arrive within the same time of its headers (aiohttp has no body timeout):
  the middleware fails the read, answers 408 and closes the connection.
- At most `HTTP_MAX_UNAUTHENTICATED` requests may be sending their body at once; bodies come
  before their signature can be checked, so these are the requests nobody vouches for yet.
  One more gets 503 at once. A request without a body (/healthz), or whose body came whole
  with its headers (as Slack's small ones do), takes no slot and never waits.
- Bodies are capped (aiohttp's 1 MB `client_max_size`, or the route's own cap via
  `read_body`); the open-files limit is raised to its hard limit at start; the event loop's
  "cannot accept" error and our own timeouts are logged once a minute, not per connection.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CollectorRegistry, Counter, Gauge

from bot.core.config import Settings

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOG_EVERY = 60.0  # seconds between two lines about the same kind of trouble


class Unread(TimeoutError):
    """Set on a body we will read no further. A TimeoutError, so that aiohttp, when it
    drains what is left of a body before closing, stops at once instead of lingering."""


class BodyTimeout(Unread):
    """The body did not arrive in time."""


class Throttled:
    """One log line per kind of trouble a minute, with how many it stands for: a flood of
    bad connections must not become a flood of log lines."""

    def __init__(self, logger: logging.Logger, every: float = LOG_EVERY) -> None:
        self.logger, self.every = logger, every
        self._last: dict[str, float] = {}
        self._count: dict[str, int] = {}

    def warning(self, kind: str, message: str, *args: object, **extra: Any) -> None:
        now = time.monotonic()
        self._count[kind] = self._count.get(kind, 0) + 1
        if now - self._last.get(kind, -self.every) < self.every:
            return
        self._last[kind] = now
        extra["count"] = self._count.pop(kind)
        self.logger.warning(message, *args, extra={"kind": kind, **extra})


class FrontDoor:
    """The middleware half: body deadlines and the cap on unauthenticated requests."""

    def __init__(
        self, read_timeout: float, max_unauthenticated: int, registry: CollectorRegistry
    ) -> None:
        self.read_timeout = read_timeout
        self.max_unauthenticated = max_unauthenticated
        self.unauthenticated = 0
        self.trouble = Throttled(log)
        self.in_flight = Gauge(
            "incident_bot_http_unauthenticated_requests_in_flight",
            "Requests still sending their body (not yet authenticated)",
            registry=registry,
        )
        self.refused = Counter(
            "incident_bot_http_requests_refused_total",
            "Requests refused at the front door",
            ["reason"],  # busy (503) | body_timeout (408)
            registry=registry,
        )

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = request.content
        if body.is_eof():  # no body, or all of it already here
            return await handler(request)
        if self.unauthenticated >= self.max_unauthenticated:
            self.refused.labels("busy").inc()
            self.trouble.warning(
                "busy",
                "too many requests still sending their body; answering 503",
                limit=self.max_unauthenticated,
            )
            body.set_exception(Unread())
            answer = _closing(503, "too many requests in flight; try again")
            answer.headers["Retry-After"] = "1"
            return answer
        self.unauthenticated += 1
        self.in_flight.inc()
        done = False

        def release() -> None:
            nonlocal done
            if not done:
                done = True
                self.unauthenticated -= 1
                self.in_flight.dec()
                timer.cancel()

        def expire() -> None:
            body.set_exception(BodyTimeout())

        timer = asyncio.get_running_loop().call_later(self.read_timeout, expire)
        body.on_eof(release)
        try:
            return await handler(request)
        except BodyTimeout:
            self.refused.labels("body_timeout").inc()
            self.trouble.warning(
                "body_timeout",
                "request bodies not sent within %g s; closed",
                self.read_timeout,
                path=request.path,
            )
            return _closing(408, "the request body did not arrive in time")
        except ConnectionError:
            if request.transport is None or request.transport.is_closing():
                return _closing(400, "the connection closed before the body arrived")
            raise
        finally:
            release()


def _closing(status: int, error: str) -> web.Response:
    answer = web.json_response({"ok": False, "error": error}, status=status)
    answer.force_close()
    return answer


async def read_body(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or None when it is longer than `limit` (read no further)."""
    if request.content_length is not None:
        if request.content_length > limit:
            return None
        return await request.content.read()  # framed by Content-Length: no longer than that
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(256 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class _OneLineClientErrors(logging.Filter):
    """aiohttp logs a request it cannot parse (the client's fault) with a traceback, at
    ERROR: make it one WARNING line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg = "unparseable HTTP request: %s"
            record.args = (exc.message,)
            record.exc_info = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_ONE_LINE = _OneLineClientErrors()


def runner(
    app: web.Application, settings: Settings, *, registry: CollectorRegistry
) -> web.AppRunner:
    """The AppRunner every server of the bot runs its app with (serve() and the tests)."""
    door = FrontDoor(settings.http_read_timeout, settings.http_max_unauthenticated, registry)
    app.middlewares.insert(0, door.middleware)  # outermost: armed before anything reads
    server_log = logging.getLogger("aiohttp.server")
    if _ONE_LINE not in server_log.filters:
        server_log.addFilter(_ONE_LINE)
    return web.AppRunner(
        app,
        # a connection that has not sent a whole request by then is closed
        keepalive_timeout=settings.http_read_timeout,
        # what is left of a refused request's body is drained no longer than that either
        lingering_time=settings.http_read_timeout,
    )


def raise_open_files_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit: the default soft 1024 is one modest flood
    of connections away from refusing Slack's."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # an unlimited hard limit (macOS) still has a kernel cap on the soft one
    target = hard if hard != resource.RLIM_INFINITY else 65536
    if soft == hard or soft >= target:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        log.warning("could not raise the open files limit", extra={"soft": soft, "error": exc})
        return
    log.info("open files limit raised", extra={"from": soft, "to": target})


_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """asyncio logs every failed accept() with a traceback, many a second while the process
    is out of file descriptors: one line a minute instead, with the count."""
    previous = loop.get_exception_handler()
    trouble = Throttled(log)

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _OUT_OF_RESOURCES and "socket" in context:
            trouble.warning("accept", "cannot accept connections: %s", exc.strerror)
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)

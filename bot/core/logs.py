"""Structured log lines, `time level logger message key=value ...` or (LOG_FORMAT=json) one
JSON object a line, each with the incident id when the work is an incident's (`about`); and
`redact_url`, which every URL we show or log goes through."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from aiohttp.http_exceptions import HttpProcessingError
from pythonjsonlogger.json import JsonFormatter

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in sorted(extras.items()))
        return line


class JsonLineFormatter(JsonFormatter):
    """`{"time": ISO 8601 UTC, "level", "logger", "message", every `extra=` field,
    "exc_info" when there is one}`: python-json-logger does all but put the time first."""

    def __init__(self) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger"},
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds"
        )
        super().add_fields(log_data, record, message_dict)


_incident: ContextVar[str | None] = ContextVar("incident", default=None)


@contextmanager
def about(incident_id: str | None) -> Iterator[None]:
    """Every log line of the work inside (and of the tasks it starts) carries
    `incident=<incident_id>`, unless the line names an incident itself."""
    token = _incident.set(incident_id)
    try:
        yield
    finally:
        _incident.reset(token)


class IncidentFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        current = _incident.get()
        if current is not None and not hasattr(record, "incident"):
            record.incident = current
        return True


class UnparsableRequestFilter(logging.Filter):
    """aiohttp answers 400 to a request it cannot parse (a header over its size limit, a
    broken request line) and then logs it at ERROR with a traceback: bad input from the
    network is no error of ours, so it becomes one warning line, without the bytes sent."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg = f"{record.msg}: unparsable request (%s %s)"
            args = record.args if isinstance(record.args, tuple) else ()
            record.args = (*args, exc.code, type(exc).__name__)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_unparsable_requests() -> None:
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, UnparsableRequestFilter) for f in server.filters):
        server.addFilter(UnparsableRequestFilter())


def formatter(style: str) -> logging.Formatter:
    """LOG_FORMAT's formatter: "text" or "json" (bot/core/config.py `Settings`)."""
    if style == "json":
        return JsonLineFormatter()
    return KeyValueFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")


SLACK_SDK_LOGGERS = ("slack_sdk.web.async_base_client", "slack_sdk.webhook.async_client")


def setup_logging(level: str = "INFO", style: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(style))
    handler.addFilter(IncidentFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("slack_bolt").setLevel(logging.WARNING)
    # Bolt reads SLACK_BOT_TOKEN itself and warns that the client we hand it (made with
    # that very token) wins: true, and noise on every start
    logging.getLogger("slack_bolt.AsyncApp").addFilter(
        lambda record: "`token` will be unused" not in record.getMessage()
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # slack_sdk's async clients test their logger's own level (NOTSET, so "debug on"), not
    # the effective one, before formatting every request and answer, blocks and headers
    # included, into a debug line that is then dropped: give them the level set here
    for name in SLACK_SDK_LOGGERS:
        logging.getLogger(name).setLevel(root.level)
    quiet_unparsable_requests()
    # its INFO lines ("Added job", "Scheduler started") say nothing to an operator
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


# query parameters that carry a credential (redis-py reads `?password=`; tokens, keys, sigs)
_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key|auth|sig|cred", re.I)


def redact_url(url: str) -> str:
    """`url` fit to show or log: the password of `user:password@` (or a lone `token@`) and
    every credential-like query parameter replaced by `***`; the rest kept, to say where.

    Everything before the last `@` counts as the user part, so a password holding `/`,
    `?` or `#` (which urlsplit would read as a path) is hidden too."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    if "@" in rest:
        userinfo, _, rest = rest.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        plain = colon and not re.search(r"[/?#]", user)
        rest = (f"{user}:***@" if plain else "***@") + rest
    where, q, query = rest.partition("?")
    if q:
        query, hash_, fragment = query.partition("#")
        pairs = []
        for pair in query.split("&"):
            name, eq, _ = pair.partition("=")
            pairs.append(f"{name}=***" if eq and _SECRET_PARAM.search(unquote(name)) else pair)
        rest = f"{where}?{'&'.join(pairs)}{hash_}{fragment}"
    return f"{scheme}{sep}{rest}"

"""Structured log lines: `level logger message key=value ...` with the incident id."""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in sorted(extras.items()))
        return line


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


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("slack_bolt").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    quiet_unparsable_requests()
    # its INFO lines ("Added job", "Scheduler started") say nothing to an operator
    logging.getLogger("apscheduler").setLevel(logging.WARNING)

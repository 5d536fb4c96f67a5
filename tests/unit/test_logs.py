"""bot/core/logs.py: LOG_FORMAT's two formatters, and the incident id that `about` puts on
every line of an incident's work (its tasks included) that does not name one itself."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.core.logs import IncidentFilter, about, formatter

Written = tuple[logging.Logger, io.StringIO, "logging.StreamHandler[io.StringIO]"]


@pytest.fixture
def written() -> Iterator[Written]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(IncidentFilter())
    logger = logging.getLogger("tests.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, out, handler
    logger.removeHandler(handler)


def test_a_json_line_has_time_level_logger_message_and_every_extra(written: Written) -> None:
    log, out, handler = written
    handler.setFormatter(formatter("json"))
    log.warning(
        "post failed: %s", "channel_not_found", extra={"incident": "20260101-7", "error": 3}
    )
    [line] = out.getvalue().splitlines()
    record = json.loads(line)
    assert list(record)[:4] == ["time", "level", "logger", "message"]
    assert record == {
        "time": record["time"],
        "level": "WARNING",
        "logger": "tests.logs",
        "message": "post failed: channel_not_found",
        "incident": "20260101-7",
        "error": 3,
    }
    assert record["time"].endswith("+00:00")  # ISO 8601, UTC


def test_a_traceback_and_an_object_stay_on_one_json_line(written: Written) -> None:
    log, out, handler = written
    handler.setFormatter(formatter("json"))
    try:
        raise ValueError("bad\ninput")
    except ValueError as exc:
        log.exception("handler failed", extra={"error": exc})
    [line] = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["error"] == "ValueError: bad\ninput"
    assert "Traceback" in record["exc_info"] and "ValueError" in record["exc_info"]


def test_text_lines_keep_their_key_value_form(written: Written) -> None:
    log, out, handler = written
    handler.setFormatter(formatter("text"))
    log.info("incident declared", extra={"severity": "SEV1", "incident": "20260101-7"})
    assert (
        out.getvalue()
        .rstrip()
        .endswith("INFO tests.logs incident declared incident=20260101-7 severity=SEV1")
    )


async def test_about_names_the_incident_on_its_lines_and_its_tasks_lines(written: Written) -> None:
    log, out, handler = written
    handler.setFormatter(formatter("json"))

    async def work() -> None:
        log.info("in a task it started")

    log.info("before")
    with about("20260101-7"):
        log.info("inside")
        log.info("names another", extra={"incident": "20260101-8"})
        task = asyncio.get_running_loop().create_task(work())
    log.info("after")
    await task
    lines = {r["message"]: r.get("incident") for r in map(json.loads, out.getvalue().splitlines())}
    assert lines == {
        "before": None,
        "inside": "20260101-7",
        "names another": "20260101-8",  # what a line says itself wins
        "after": None,
        "in a task it started": "20260101-7",
    }


def test_slack_sdk_clients_get_the_level_so_they_skip_formatting_debug_lines() -> None:
    import logging

    from bot.core.logs import SLACK_SDK_LOGGERS, setup_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging("INFO")
        # slack_sdk builds its debug lines when `logger.level <= DEBUG` (NOTSET is 0)
        assert all(logging.getLogger(n).level == logging.INFO for n in SLACK_SDK_LOGGERS)
        setup_logging("DEBUG")
        assert all(logging.getLogger(n).level == logging.DEBUG for n in SLACK_SDK_LOGGERS)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        for n in SLACK_SDK_LOGGERS:
            logging.getLogger(n).setLevel(logging.NOTSET)

"""LOG_FORMAT=json, as an operator's log pipeline reads it: `python -m bot` declares an
incident, and every line it wrote is one JSON object; the lines of the incident's work
carry its id under `incident`, also those our code writes without naming it (here Slack
SDK's, at DEBUG: bot/core/logs.py `about`)."""

from __future__ import annotations

import json
from pathlib import Path

from bot.fakes.slack import FakeSlack
from tests.integration.bot_process import BotProcess
from tests.integration.harness import eventually


async def test_a_declare_logs_json_lines_that_carry_the_incident_id(
    fake: FakeSlack, redis_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "incident.yaml"
    config.write_text("announce_channel: general\n")
    log = tmp_path / "bot.log"
    with log.open("wb") as stderr:
        bot = BotProcess(fake, redis_url, config, log=stderr, LOG_FORMAT="json", LOG_LEVEL="DEBUG")
        try:
            await bot.ready()
            fake.app_url = f"{bot.url}/slack/events"
            general = fake.channel_by_name("general")
            assert general is not None
            await fake.slash_command(
                "U0ALICE", general.id, "/incident", "declare SEV1 Payments down"
            )
            await eventually(
                lambda: any(m.pinned for c in fake.messages.values() for m in c), settle=False
            )
        finally:
            bot.stop()

    lines = [json.loads(line) for line in log.read_text().splitlines()]  # each one object
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    [declared] = [line for line in lines if line["message"] == "incident declared"]
    incident = declared["incident"]
    assert declared["severity"] == "SEV1" and declared["level"] == "INFO"
    assert declared["time"].endswith("+00:00")
    assert [c.name for c in fake.channels.values() if incident in c.name] == [
        f"inc-{incident}-payments-down"
    ]
    # the set-up (an event subscriber) made the channel: Slack SDK's line says so, with the id
    [create] = [line for line in lines if "api/conversations.create" in line["message"]]
    assert create["logger"].startswith("slack_sdk") and create["incident"] == incident
    assert {line["incident"] for line in lines if "incident" in line} == {incident}

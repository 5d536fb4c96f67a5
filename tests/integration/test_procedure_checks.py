"""The procedure's Slack targets are checked before they are needed: the doctor has a line
for each channel, user group and user the escalation matrix and stakeholders name, and
the bot logs a warning at start-up for each one Slack does not know."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.core.config import IncidentConfig
from bot.fakes.slack import FakeSlack
from tests.integration.harness import eventually, start
from tests.integration.test_doctor import doctor, settings_for, statuses


def procedure(group: str, channel: str) -> dict[str, Any]:
    return {
        "escalation": {
            "matrix": {
                "SEV1": [
                    {"after": "15m", "notify": ["U0BOB", group], "note": "Team lead"},
                    {"after": "30m", "notify": ["U0NOBODY", "S0NOPE"], "note": "Typos"},
                    {"after": "1h", "notify": [channel, "#nowhere"], "note": "Channels"},
                ]
            }
        },
        "stakeholders": {
            "SEV1": [{"audience": "managers", "channel": group, "every": "15m"}],
        },
    }


async def test_the_doctor_checks_every_target_of_the_procedure(
    slack: FakeSlack, redis_url: str
) -> None:
    group = slack.add_usergroup("eng-managers", ["U0CAROL"])["id"]
    leadership = slack.add_channel("leadership", members=list(slack.users)).id
    results = await doctor(settings_for(slack, None, redis_url), procedure(group, leadership))
    lines = statuses(results)
    assert lines["User U0BOB"] == "ok"
    assert lines[f"User group {group}"] == "ok"
    assert "@eng-managers exists (1 members)" in results[f"User group {group}"].detail
    assert lines["User U0NOBODY"] == "fail"
    assert "escalation.matrix.SEV1" in results["User U0NOBODY"].fix
    assert lines["User group S0NOPE"] == "fail"
    assert results["User group S0NOPE"].detail == "no user group S0NOPE in this workspace"
    assert lines[f"Escalation channel {leadership}"] == "ok"
    assert lines["Escalation channel #nowhere"] == "fail"


async def test_unknown_targets_are_logged_at_start_up(
    slack: FakeSlack, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    group = slack.add_usergroup("eng-managers", ["U0CAROL"])["id"]
    config = IncidentConfig.model_validate(procedure(group, "C0MISSING1"))
    caplog.set_level(logging.WARNING, logger="bot.server")
    h = await start(redis_url, config, fake=slack)
    try:

        def warned() -> list[str]:
            return [r.getMessage() for r in caplog.records if "procedure target" in r.msg]

        await eventually(lambda: len(warned()) == 4)
        text = "\n".join(warned())
        assert "User U0NOBODY: no user U0NOBODY in this workspace" in text
        assert "User group S0NOPE: no user group S0NOPE" in text
        assert "Escalation channel C0MISSING1" in text
        assert "Escalation channel #nowhere" in text
    finally:
        await h.stop_bot()

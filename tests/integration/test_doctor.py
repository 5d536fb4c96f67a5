"""The doctor against the fakes: each misconfiguration gives its line and its fix.

Real parts throughout: the fake Slack and fake PagerDuty over HTTP, real redis-servers
(the session's persists nothing, so it is the warning case), `python -m bot doctor` as a
child process for the exit codes, and `/incident doctor` through Slack.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from blocks.limits import check_blocks
from bot.core.config import IncidentConfig, Settings
from bot.core.models import CheckResult
from bot.core.slack import Slack, make_client
from bot.core.store import Store
from bot.doctor import Setup, exit_code, report_text, run_checks
from bot.fakes.pagerduty import FakePagerDuty
from bot.fakes.slack import DEFAULT_SCOPES, FakeSlack
from bot.server import make_pagerduty
from tests.conftest import RedisServer, free_port
from tests.integration.harness import eventually, start
from tests.sandbox_process import ROOT, child_env

CLEAN = {
    "announce_channel": "incidents",
    "alerts": {"channels": ["alerts"]},
    "pagerduty": {
        "service_id": "PSVC_MAIN",
        "schedules": {"backend": "PS_BACKEND", "platform": "PS_PLATFORM"},
    },
}


def settings_for(
    slack: FakeSlack, pd: FakePagerDuty | None, redis_url: str, **extra: Any
) -> Settings:
    env: dict[str, Any] = {
        "slack_bot_token": slack.bot_token,
        "slack_signing_secret": slack.signing_secret,
        "slack_api_url": slack.api_url,
        "redis_url": redis_url,
    }
    if pd is not None:
        env.update(
            pagerduty_api_key=pd.api_key,
            pagerduty_api_url=pd.api_url,
            pagerduty_from_email="alice@example.com",
        )
    return Settings(**{**env, **extra})


async def doctor(
    settings: Settings,
    config: dict[str, Any] | None = None,
    *,
    per_check: float = 5.0,
    clock: Any = time.time,
) -> dict[str, CheckResult]:
    """Run every check as the running bot would (its config given), by check name."""
    redis = Redis.from_url(settings.redis_url, decode_responses=True, socket_timeout=1)
    token = settings.slack_bot_token
    setup = Setup(
        settings=settings,
        store=Store(redis),
        slack=Slack(make_client(token, settings.slack_api_url)) if token else None,
        pagerduty=make_pagerduty(settings),
        config=IncidentConfig.model_validate(CLEAN if config is None else config),
        clock=clock,
    )
    try:
        results = await run_checks(setup, per_check=per_check)
    finally:
        await redis.aclose()
    by_name = {r.name: r for r in results}
    assert len(by_name) == len(results), "check names are unique"
    return by_name


def statuses(results: dict[str, CheckResult]) -> dict[str, str]:
    return {name: r.status for name, r in results.items()}


# -- a clean set-up ----------------------------------------------------------------------


async def test_clean_setup_passes_everything_but_redis_persistence(
    slack: FakeSlack, pd: FakePagerDuty, redis_url: str
) -> None:
    results = await doctor(settings_for(slack, pd, redis_url))
    assert statuses(results) == {
        "Slack token": "ok",
        "Slack scopes": "ok",
        "Signing secret": "ok",
        "Announce channel #incidents": "ok",
        "Alert channel #alerts": "ok",
        "PagerDuty token": "ok",
        "PagerDuty From address": "ok",
        "PagerDuty service": "ok",
        "Escalation policy": "ok",
        "Schedule backend": "ok",
        "Schedule platform": "ok",
        "Redis": "ok",
        "Redis persistence": "warn",  # the session's redis-server runs without persistence
        "Store continuity": "ok",
        "Config file": "ok",
        "Runbooks": "ok",
        "Clock vs Slack": "ok",
        "Clock vs PagerDuty": "ok",
    }
    assert exit_code(results.values()) == 0
    assert "@incident-bot in Fake Workspace" in results["Slack token"].detail
    policy = results["Escalation policy"].detail
    assert "Backend escalation" in policy and "L3 Dave Example" in policy
    assert "Backend Primary (PS_BACKEND)" in results["Schedule backend"].detail
    redis = results["Redis persistence"]
    assert "no persistence" in redis.detail and "appendonly yes" in redis.fix
    # alerts.channels names no `from:`: the report says any bot or app is read there
    assert "by any bot or app are read" in results["Alert channel #alerts"].detail


# -- Slack -------------------------------------------------------------------------------


async def test_missing_scope_names_it_and_says_reinstall(redis_url: str) -> None:
    fake = FakeSlack(scopes=[s for s in DEFAULT_SCOPES if s not in ("pins:write", "files:write")])
    await fake.start()
    try:
        results = await doctor(settings_for(fake, None, redis_url))
    finally:
        await fake.stop()
    scopes = results["Slack scopes"]
    assert scopes.status == "fail"
    assert "pins:write (pinning the incident card)" in scopes.detail
    assert "files:write" in scopes.detail and "chat:write" not in scopes.detail
    assert "reinstall the app" in scopes.fix and "Bot Token Scopes" in scopes.fix
    assert exit_code(results.values()) == 1


async def test_bot_not_in_channels(slack: FakeSlack, redis_url: str) -> None:
    for name in ("alerts", "incidents"):
        slack.channel_by_name(name).members.discard(slack.bot_user_id)  # type: ignore[union-attr]
    results = await doctor(settings_for(slack, None, redis_url))
    alerts = results["Alert channel #alerts"]
    assert alerts.status == "fail" and "never sees the alert messages" in alerts.detail
    assert alerts.fix == "In #alerts, type `/invite @incident-bot`."
    # a public announce channel still takes posts through chat:write.public: a warning
    announce = results["Announce channel #incidents"]
    assert announce.status == "warn" and "chat:write.public" in announce.detail
    assert "/invite @incident-bot" in announce.fix


async def test_bot_not_in_announce_channel_without_public_posting(redis_url: str) -> None:
    fake = FakeSlack(scopes=[s for s in DEFAULT_SCOPES if s != "chat:write.public"])
    await fake.start()
    try:
        fake.channel_by_name("incidents").members.discard(fake.bot_user_id)  # type: ignore[union-attr]
        results = await doctor(settings_for(fake, None, redis_url))
    finally:
        await fake.stop()
    announce = results["Announce channel #incidents"]
    assert announce.status == "fail" and "cannot post there" in announce.detail
    assert "/invite @incident-bot" in announce.fix


async def test_announce_channel_missing(slack: FakeSlack, redis_url: str) -> None:
    config = {**CLEAN, "announce_channel": "war-room"}
    results = await doctor(settings_for(slack, None, redis_url), config)
    line = results["Announce channel #war-room"]
    assert line.status == "fail" and "no channel #war-room" in line.detail
    assert "Create #war-room" in line.fix and "announce_channel" in line.fix


async def test_channel_by_id_and_archived(slack: FakeSlack, redis_url: str) -> None:
    ops = slack.add_channel("ops", members=[slack.bot_user_id])
    old = slack.add_channel("old-alerts", members=[slack.bot_user_id])
    old.is_archived = True
    config = {**CLEAN, "announce_channel": ops.id, "alerts": {"channels": ["old-alerts"]}}
    results = await doctor(settings_for(slack, None, redis_url), config)
    assert results[f"Announce channel {ops.id}"].status == "ok"
    archived = results["Alert channel #old-alerts"]
    assert archived.status == "fail" and "archived" in archived.detail


async def test_bad_token_fails_once_and_skips_what_depends_on_it(
    slack: FakeSlack, redis_url: str
) -> None:
    results = await doctor(settings_for(slack, None, redis_url, slack_bot_token="xoxb-revoked"))
    token = results["Slack token"]
    assert token.status == "fail" and "invalid_auth" in token.detail
    assert "SLACK_BOT_TOKEN" in token.fix
    for name in ("Slack scopes", "Announce channel #incidents", "Clock vs Slack"):
        assert results[name].status == "skip", name


async def test_socket_mode_token_and_missing_signing_secret(
    slack: FakeSlack, redis_url: str
) -> None:
    socket = await doctor(settings_for(slack, None, redis_url, slack_app_token="xoxb-oops"))
    assert socket["Socket Mode token"].status == "fail"
    assert "connections:write" in socket["Socket Mode token"].fix
    assert "Signing secret" not in socket
    http = await doctor(settings_for(slack, None, redis_url, slack_signing_secret=None))
    assert http["Signing secret"].status == "fail"
    assert "Basic Information" in http["Signing secret"].fix


# -- PagerDuty ---------------------------------------------------------------------------


async def test_policy_level_without_anyone_on_call(
    slack: FakeSlack, pd: FakePagerDuty, redis_url: str
) -> None:
    pd.add_schedule("PS_GAP", "Nobody yet", [])  # an empty layer: nobody on call
    pd.add_policy("PEP_GAP", "Gappy", [[("schedule", "PS_BACKEND")], [("schedule", "PS_GAP")]])
    config = {**CLEAN, "pagerduty": {"service_id": "PSVC_MAIN", "escalation_policy_id": "PEP_GAP"}}
    results = await doctor(settings_for(slack, pd, redis_url), config)
    line = results["Escalation policy"]
    assert line.status == "fail"
    assert "nobody is on call now at level 2 (schedule:PS_GAP)" in line.detail
    assert "level 1" not in line.detail
    assert "Gappy" in line.fix and "override" in line.fix


async def test_unknown_pagerduty_ids(slack: FakeSlack, pd: FakePagerDuty, redis_url: str) -> None:
    config = {
        **CLEAN,
        "pagerduty": {
            "service_id": "PNOPE",
            "schedules": {"db": "PS_NOPE", "backend": "PS_BACKEND"},
        },
    }
    results = await doctor(settings_for(slack, pd, redis_url), config)
    assert results["PagerDuty service"].status == "fail"
    assert "PNOPE does not exist" in results["PagerDuty service"].detail
    assert "pagerduty.service_id" in results["PagerDuty service"].fix
    assert results["Escalation policy"].status == "skip"
    db = results["Schedule db"]
    assert db.status == "fail" and "pagerduty.schedules.db" in db.fix
    assert results["Schedule backend"].status == "ok"


async def test_rejected_pagerduty_key_and_missing_from(
    slack: FakeSlack, pd: FakePagerDuty, redis_url: str
) -> None:
    settings = settings_for(
        slack, pd, redis_url, pagerduty_api_key="wrong", pagerduty_from_email=None
    )
    results = await doctor(settings)
    token = results["PagerDuty token"]
    assert token.status == "fail" and "401" in token.detail and "API Access Keys" in token.fix
    assert results["PagerDuty From address"].status == "fail"
    for name in ("PagerDuty service", "Escalation policy", "Schedule backend"):
        assert results[name].status == "skip", name


async def test_pagerduty_not_configured_is_a_warning(slack: FakeSlack, redis_url: str) -> None:
    results = await doctor(settings_for(slack, None, redis_url))
    line = results["PagerDuty"]
    assert line.status == "warn" and "paging and /oncall are off" in line.detail
    assert "PAGERDUTY_API_KEY" in line.fix and "PAGERDUTY_FROM_EMAIL" in line.fix
    assert "Clock vs PagerDuty" not in results and exit_code(results.values()) == 0


# -- Redis -------------------------------------------------------------------------------


async def test_redis_with_aof_passes_and_unreachable_redis_fails(slack: FakeSlack) -> None:
    server = RedisServer(appendonly=True)
    try:
        results = await doctor(settings_for(slack, None, server.url))
    finally:
        server.stop()
    assert results["Redis persistence"].status == "ok"
    assert "AOF is on" in results["Redis persistence"].detail
    assert "Redis 7" in results["Redis"].detail or "Redis " in results["Redis"].detail

    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    results = await doctor(settings_for(slack, None, nowhere))
    assert results["Redis"].status == "fail" and "REDIS_URL" in results["Redis"].fix
    assert results["Redis persistence"].status == "skip"


# -- clocks, files, timeouts ---------------------------------------------------------------


async def test_clock_skew(slack: FakeSlack, pd: FakePagerDuty, redis_url: str) -> None:
    ahead = await doctor(settings_for(slack, pd, redis_url), clock=lambda: time.time() + 120)
    for name, whose in (("Clock vs Slack", "Slack's"), ("Clock vs PagerDuty", "PagerDuty's")):
        assert ahead[name].status == "warn", name
        assert f"s ahead of {whose}" in ahead[name].detail and "NTP" in ahead[name].fix
    behind = await doctor(settings_for(slack, pd, redis_url), clock=lambda: time.time() - 400)
    assert behind["Clock vs Slack"].status == "fail"  # Slack refuses the signatures
    assert "behind" in behind["Clock vs Slack"].detail
    assert behind["Clock vs PagerDuty"].status == "warn"


async def test_invalid_config_and_runbooks(
    slack: FakeSlack, redis_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "incident.yaml"
    config.write_text("announce_channel: incidents\nchannel_prefix: Not Valid\n")
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "broken.yaml").write_text("title: no steps\n")
    settings = settings_for(slack, None, redis_url, incident_config=str(config))
    token = settings.slack_bot_token
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        # The CLI's view: no running config, so the file decides (and it is broken).
        results = await run_checks(
            Setup(
                settings=settings,
                store=Store(redis),
                slack=Slack(make_client(token, settings.slack_api_url)),
                pagerduty=None,
            )
        )
        by_name = {r.name: r for r in results}
        assert by_name["Config file"].status == "fail"
        assert f"{config}:2: channel_prefix" in by_name["Config file"].detail
        assert "check-config" in by_name["Config file"].fix
        assert by_name["Channels"].status == "skip"
        # The running bot's view: its own config is live; the file would not start again.
        running = await doctor(settings, {**CLEAN, "runbooks_dir": str(books)})
    finally:
        await redis.aclose()
    assert "next start will fail" in running["Config file"].detail
    assert running["Runbooks"].status == "fail" and "broken.yaml" in running["Runbooks"].detail


async def test_a_hanging_dependency_costs_only_its_own_lines(
    slack: FakeSlack, redis_url: str
) -> None:
    hang = slack.hold("conversations.list")  # Slack does not answer until released
    try:
        results = await doctor(settings_for(slack, None, redis_url), per_check=1.0)
        # the report came while the call was still unanswered: it did not wait for it
        assert hang.arrived.is_set() and not hang.released.is_set()
    finally:
        hang.release()
    for name in ("Announce channel #incidents", "Alert channel #alerts"):
        assert results[name].status == "fail", name
        assert results[name].detail == "no answer within 1 s"
        assert "SLACK_API_URL" in results[name].fix
    assert results["Slack token"].status == "ok" and results["Redis"].status == "ok"


def test_report_text_marks_each_line() -> None:
    results = [
        CheckResult(group="Slack", name="Slack token", status="ok", detail="valid"),
        CheckResult(group="Slack", name="Slack scopes", status="fail", detail="x", fix="add"),
        CheckResult(group="Redis", name="Redis persistence", status="warn", detail="y", fix="z"),
        CheckResult(group="Clock", name="Clock vs Slack", status="skip", detail="not checked"),
    ]
    text = report_text(results)
    assert text.splitlines() == [
        "Slack",
        "  ✓ Slack token: valid",
        "  ✗ Slack scopes: x",
        "      fix: add",
        "Redis",
        "  ! Redis persistence: y",
        "      fix: z",
        "Clock",
        "  - Clock vs Slack: not checked",
        "",
        "1 to fix, 1 warning, 1 passed, 1 not checked.",
    ]


# -- the two front doors -------------------------------------------------------------------


async def _cli(env: dict[str, str]) -> tuple[int, str]:
    """`python -m bot doctor` as a child process; the fakes answer from this test's loop."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "doctor",
        cwd=ROOT,
        env=child_env(**env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode() + err.decode()


async def test_cli_exit_codes(slack: FakeSlack, pd: FakePagerDuty, tmp_path: Path) -> None:
    server = RedisServer(appendonly=True)
    config = tmp_path / "incident.yaml"
    config.write_text(
        "announce_channel: incidents\n"
        "alerts: {channels: [alerts]}\n"
        "pagerduty: {service_id: PSVC_MAIN, schedules: {backend: PS_BACKEND}}\n"
    )
    env = {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "REDIS_URL": server.url,
        "PAGERDUTY_API_KEY": pd.api_key,
        "PAGERDUTY_API_URL": pd.api_url,
        "PAGERDUTY_FROM_EMAIL": "alice@example.com",
        "INCIDENT_CONFIG": str(config),
    }
    try:
        code, out = await _cli(env)
        assert code == 0, out
        assert "✓ Slack scopes: all" in out and "✓ Escalation policy:" in out
        assert "✓ Redis persistence: AOF is on" in out and "✗" not in out

        config.write_text("announce_channel: war-room\n")
        code, out = await _cli(env)
        assert code == 1, out
        assert "✗ Announce channel #war-room: no channel #war-room" in out
        assert "fix: Create #war-room in Slack" in out
    finally:
        server.stop()


async def test_slash_command_answers_ephemerally_anywhere(redis_url: str) -> None:
    h = await start(redis_url, pagerduty=True)
    try:
        ack = await h.command("doctor")
        assert ack.status == 200
        reply = await eventually(lambda: [m for m in h.ephemerals() if "Set-up check" in m.text])
        blocks = reply[0].blocks
        assert check_blocks(blocks) == []
        shown = str(blocks)
        assert ":white_check_mark: *Slack token*" in shown
        assert ":warning: *Redis persistence*" in shown and "_Fix:_" in shown
        assert "python -m bot doctor" in shown

        await h.command("doctor now")
        await eventually(lambda: [m for m in h.ephemerals() if "takes no arguments" in m.text])
    finally:
        await h.stop()


async def test_sandbox_doctor_runs_against_the_fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiohttp import web

    from bot.sandbox import build_sandbox
    from bot.sandbox.web import sandbox_feed

    for var in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "REDIS_URL", "PAGERDUTY_API_KEY"):
        monkeypatch.delenv(var, raising=False)  # the sandbox as a newcomer starts it
    port = free_port()
    app = build_sandbox(Settings(port=port), IncidentConfig(), port=port)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        fake = sandbox_feed(app).fake
        general = fake.channel_by_name("general")
        assert general is not None
        await fake.slash_command("U0ALICE", general.id, "/incident", "doctor")

        def reply() -> Any:
            return next(
                (
                    m
                    for m in fake.messages[general.id]
                    if m.ephemeral_to == "U0ALICE" and "Set-up check" in m.text
                ),
                None,
            )

        message = await eventually(reply)
        shown = str(message.blocks)
        assert ":white_check_mark: *Slack token*" in shown
        assert "embedded in-memory Redis" in shown  # the sandbox's fakeredis, said plainly
        assert ":white_check_mark: *Escalation policy*" in shown  # the sandbox's fake PagerDuty
    finally:
        await runner.cleanup()


async def test_slash_command_still_answers_with_redis_down() -> None:
    server = RedisServer()
    h = await start(server.url)
    try:
        server.stop()
        await h.command("doctor")
        reply = await eventually(lambda: [m for m in h.ephemerals() if "Set-up check" in m.text])
        shown = str(reply[0].blocks)
        assert ":x: *Redis*: cannot reach Redis" in shown
        assert "Start Redis, or set REDIS_URL" in shown
    finally:
        await h.stop()

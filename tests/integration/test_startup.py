"""`python -m bot` refusing to start, as an operator sees it: one line on stderr naming
what is wrong, exit code 2, never a traceback. And `check-config` refusing exactly what
start-up refuses (one function decides both, bot/preflight.py), with file, line and key.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sandbox_process import ROOT, child_env, free_port

SLACK = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "secret"}


def bot(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=child_env(**{"PORT": str(free_port()), **env}),
        capture_output=True,
        text=True,
        timeout=60,
    )


def refused(done: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The one line a refused start printed (asserting it is one, and the exit code)."""
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert done.stdout == ""
    return lines[0]


@pytest.mark.parametrize("tokens", [False, True], ids=["sandbox", "slack"])
def test_an_invalid_port_is_one_line(tokens: bool) -> None:
    line = refused(bot(PORT="abc", **(SLACK if tokens else {})))
    assert line.startswith("Cannot start: invalid environment: PORT='abc': ")
    assert "valid integer" in line


def test_an_invalid_log_level_is_one_line() -> None:
    line = refused(bot(LOG_LEVEL="loud"))
    assert line == (
        "Cannot start: invalid environment: LOG_LEVEL='loud': use DEBUG, INFO, WARNING, ERROR "
        "or CRITICAL"
    )


def test_an_invalid_log_format_is_one_line() -> None:
    line = refused(bot(LOG_FORMAT="xml"))
    assert (
        line
        == "Cannot start: invalid environment: LOG_FORMAT='xml': Input should be 'text' or 'json'"
    )


def test_an_unreadable_config_is_one_line(tmp_path: Path) -> None:
    # the tests may run as root, who reads any file: a folder and a binary are unreadable
    line = refused(bot(INCIDENT_CONFIG=str(tmp_path)))
    assert line == f"Cannot start: {tmp_path}: cannot read the config file (Is a directory)"
    binary = tmp_path / "incident.yaml"
    binary.write_bytes(b"announce_channel: \xff\xfe\n")
    line = refused(bot(INCIDENT_CONFIG=str(binary)))
    assert line.startswith(f"Cannot start: {binary}: cannot read the config file (not UTF-8")
    missing = tmp_path / "nope.yaml"
    line = refused(bot(INCIDENT_CONFIG=str(missing)))
    assert (
        line == f"Cannot start: {missing}: cannot read the config file (No such file or directory)"
    )


def test_a_redis_that_does_not_answer_stops_the_bot() -> None:
    dead = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    line = refused(bot(REDIS_URL=dead, **SLACK))
    assert line.startswith("Cannot start: the Redis at redis://:***@127.0.0.1:")
    assert "(REDIS_URL) does not answer" in line and "hunter2" not in line


def test_a_port_in_use_is_one_line(redis_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        line = refused(bot(PORT=port, REDIS_URL=redis_url, **SLACK))
        assert line == (
            f"Cannot start: cannot listen on 0.0.0.0:{port} (it is already in use); set PORT "
            "to a free port (and HOST to an address of this machine)."
        )
        sandbox = refused(bot(PORT=port))
        assert sandbox == (
            f"Cannot start the sandbox on 127.0.0.1:{port}: it is already in use; set PORT to "
            "a free port."
        )


# -- check-config refuses exactly what start-up refuses --------------------------------------

BROKEN_DRILL = """\
title: Broken drill
runbook: high-latency
time_limit: 5m
script:
  - at: 10m
    alert: {alertname: HighLatency}
"""

UNDEFINED_NAME = "Update on {{ incident.titel }}\n"


def broken_setups(tmp: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (config file text, what each problem line must contain)."""
    drills = tmp / "drills"
    drills.mkdir()
    (drills / "broken.yaml").write_text(BROKEN_DRILL)
    (tmp / "stakeholders").mkdir()
    (tmp / "stakeholders" / "memo.j2").write_text(UNDEFINED_NAME)
    return {
        "drill scenario": (
            f"drills:\n  scenarios_dir: {drills}\n",
            [f"{drills / 'broken.yaml'}:5: script[0].at: 10 min is not before the time limit"],
        ),
        "runbooks_dir": (
            f"announce_channel: incidents\nrunbooks_dir: {tmp / 'nope'}\n",
            [f"incident.yaml:2: runbooks_dir: no folder '{tmp / 'nope'}'"],
        ),
        "alert rule": (
            "alerts:\n  rules:\n    - alertname: Disk\n      severity: SEV3\n"
            "      runbook: disk-spaec\n",
            ["incident.yaml:5: alerts.rules[0].runbook: no runbook 'disk-spaec'"],
        ),
        "template": (
            f"templates_dir: {tmp}\nstakeholders:\n  SEV1:\n"
            "    - {audience: board, channel: board, every: 1h, template: memo}\n",
            [
                f"incident.yaml:4: stakeholders.SEV1[0].template: {tmp}/stakeholders/memo.j2:1 "
                "(rendering a sample investigating incident): 'dict object' has no attribute "
                "'titel'"
            ],
        ),
        "YAML syntax": (
            "announce_channel: [incidents,\nchannel_prefix: inc\n",
            ["incident.yaml:3:1: not valid YAML: expected ',' or ']'"],
        ),
        "config key": (
            "channel_prefix: Not Valid\n",
            ["incident.yaml:1: channel_prefix: use 1-21 lowercase letters"],
        ),
    }


@pytest.mark.parametrize(
    "case",
    ["drill scenario", "runbooks_dir", "alert rule", "template", "YAML syntax", "config key"],
)
def test_check_config_refuses_what_start_up_refuses(tmp_path: Path, case: str) -> None:
    text, expected = broken_setups(tmp_path)[case]
    config = tmp_path / "incident.yaml"
    config.write_text(text)
    checked = bot("check-config", str(config))
    assert checked.returncode == 1 and "Traceback" not in checked.stderr
    header, *problems = checked.stderr.splitlines()
    assert header.startswith(f"{config}: invalid, the bot would not start")
    for want in expected:
        assert any(want in line for line in problems), checked.stderr
    # the start decides before it looks at the tokens: both ways once
    for tokens in ({}, SLACK) if case == "drill scenario" else ({},):
        started = bot(INCIDENT_CONFIG=str(config), **tokens)
        assert started.returncode == 2 and "Traceback" not in started.stderr
        # the same problems, word for word
        first, *more = [line.strip() for line in started.stderr.splitlines()]
        assert first.startswith("Cannot start: ")
        said = more if more else [first.removeprefix("Cannot start: ")]
        assert said == [p.strip() for p in problems]
    doctor = bot("doctor", "--timeout", "1", INCIDENT_CONFIG=str(config))
    assert doctor.returncode == 1
    assert all(p.strip() in doctor.stdout for p in problems), doctor.stdout


def test_check_config_passes_what_starts(tmp_path: Path) -> None:
    config = tmp_path / "incident.yaml"
    config.write_text(f"drills:\n  scenarios_dir: {ROOT / 'drills'}\n")
    checked = bot("check-config", str(config))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"{config}: valid (12 runbooks, 3 drill scenarios)")


# -- check-runbooks and check-drills on each other's folders ---------------------------------


def test_check_runbooks_on_the_drills_folder_says_what_it_is() -> None:
    done = bot("check-runbooks", "drills/")
    assert done.returncode == 2
    assert done.stdout.splitlines() == [
        "drills: a folder of drill scenarios (their files have script:), not runbooks; "
        "check it with `python -m bot check-drills drills`"
    ]
    done = bot("check-drills", "runbooks")
    assert done.returncode == 2 and len(done.stdout.splitlines()) == 1
    assert "a folder of runbooks" in done.stdout and "check-runbooks runbooks" in done.stdout


def test_check_drills(tmp_path: Path) -> None:
    shipped = bot("check-drills")
    assert shipped.returncode == 0, shipped.stdout
    assert shipped.stdout.splitlines()[-1] == f"3 valid, 0 problem(s) in {ROOT / 'drills'}"
    assert "ok     latency-spike: Latency spike on search (SEV2, runbook high-latency" in (
        shipped.stdout
    )
    (tmp_path / "broken.yaml").write_text(BROKEN_DRILL)
    broken = bot("check-drills", str(tmp_path))
    assert broken.returncode == 1
    assert broken.stdout.splitlines() == [
        f"error  {tmp_path / 'broken.yaml'}:5: script[0].at: 10 min is not before the time "
        "limit (5 min)",
        f"1 problem(s) in {tmp_path}",
    ]
    assert bot("check-drills", str(tmp_path / "nope")).returncode == 2

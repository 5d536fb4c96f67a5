"""The bench: the figures of the declare and timer table (issue 19), measured from outside.

    python -m bench [--quick] [--profile FILE] [--only PHASE ...]

Run from the checkout. Every piece is an OS process of its own, started here:

- redis-server on a free port (tests/conftest.py `RedisServer`);
- the fake Slack (`python -m bench.slack_process`) and the fake PagerDuty
  (`python -m bench.pagerduty_process`), over real HTTP on free ports;
- the bot, `python -m bot` in HTTP mode, pointed at them by SLACK_API_URL,
  PAGERDUTY_API_URL, PAGERDUTY_EVENTS_URL and REDIS_URL, with a signing secret, an
  Alertmanager token and a config file of the bench's (below);
- a bare slack-bolt app that only acks `/incident` (`python -m bench.bare_bolt`): the
  baseline of the ack ratio, measured in the same run just before the bot;
- the load generator (`python -m bench.load`), which sends everything, watches the fake
  Slack's feed of calls, reads the bot's CPU time and RSS from /proc and Redis's INFO
  commandstats, and prints the table: each figure beside its goal.

Phases, in order (full sizes; `--quick` makes each small, for a smoke test under a minute):
idle RSS and the idle rates of CPU and Redis commands (subtracted from the figures per
declare); 300 `/incident declare SEV2` from 300 people, 100 at a time, to the bare Bolt
app and then to the bot (ack p99 ratio; set up = pinned card and announcement seen by the
fake; told = the "Declared" answer at the response_url; Redis commands and bot CPU over
the burst until the bot is quiet, per declare); 50 clickers × 5 clicks on a 60-step
runbook (bench/clicks.py); 10,000 Alertmanager POSTs of one alert each, 50 at a time
(accepted per second; duplicates: incidents or alert messages beyond one a group); 1,000
SEV1 incidents declared, then their update reminders made due over 10 s through the bot's
own `Reminders.restart` (lateness: the fake's seeing the due-item's marked message minus
its due time in the store); 300 of them with the SEV1 escalation matrix started an hour
ago, so 900 steps come due within 3 s (the same lateness).

The scheduler runs at the product's defaults (`scheduler.tick` 1 s). The figures mean
something only on a quiet machine: every process here shares its cores.

`--profile FILE`: py-spy (`pip install py-spy`) records the bot's CPU (the thread holding
the GIL) during the declare burst into FILE, during the runbook clicks into FILE-clicks
and during the Alertmanager burst into FILE-alerts (collapsed stacks), and the table ends
with each one's top frames. By hand, the same while a burst runs: `py-spy record
--nonblocking --gil --pid <the bot's pid> --format raw -o FILE` (the first line printed
names the bot's pid).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.clicks import write_runbook  # noqa: E402

PHASES = ("idle", "declares", "clicks", "alerts", "reminders", "escalations", "critical_path")
from tests.conftest import RedisServer, free_port  # noqa: E402

FULL = {
    "idle": 5.0,
    "declares": 300,
    "concurrency": 100,
    "clickers": 50,
    "rounds": 5,
    "alerts": 10_000,
    "alert_concurrency": 50,
    "incidents": 1000,
    "seed_concurrency": 50,
    "window": 10.0,
    "escalations": 300,
    "give_up": 180.0,
    "users": 2000,
}
QUICK = {
    "idle": 1.0,
    "declares": 20,
    "concurrency": 10,
    "clickers": 4,
    "rounds": 2,
    "alerts": 200,
    "alert_concurrency": 20,
    "incidents": 20,
    "seed_concurrency": 10,
    "window": 1.0,
    "escalations": 5,
    "give_up": 30.0,
    "users": 200,
}
MATRIX_AFTER = [3600, 3601, 3602]  # seconds: the SEV1 matrix's steps (an hour, and a bit)
PD_WEBHOOK_SECRET = "bench-webhook-secret"


def config_text(info: dict[str, Any], runbooks: Path) -> str:
    """The bench's procedure: reminders and the matrix an hour off (the bench makes them
    due), paging on for SEV1 and SEV2 (the fake PagerDuty), the alert door's sender
    rate and instance cap raised (one sender, every alert counted)."""
    a, b, c = MATRIX_AFTER
    return f"""\
severities:
  - {{name: SEV1, label: Critical, update_every: 1h, page: true}}
  - {{name: SEV2, label: High, update_every: 1h, page: true}}
  - {{name: SEV3, label: Medium, update_every: 2h, page: false}}
  - {{name: SEV4, label: Low, update_every: 1d, page: false}}
escalation:
  matrix:
    SEV1:
      - {{after: {a}s, notify: [U0BOB], note: Team lead}}
      - {{after: {b}s, notify: [{info["group"]}], note: Managers}}
      - {{after: {c}s, notify: [{info["leadership"]}], note: Leadership}}
pagerduty: {{service_id: PSVC_MAIN, escalation_policy_id: PEP_MAIN}}
alerts: {{webhook_rate: 1000000/1m, max_instances: 1000}}
runbooks_dir: {runbooks}
"""


class Children:
    """The processes started here, stopped in reverse order."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log: IO[bytes] = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 (the child's)
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log
        )
        self.procs.append(proc)
        return proc

    def ready_line(self, name: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> str:
        """The `READY <url>` line a bench child prints first."""
        assert proc.stdout is not None
        readable, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline().decode().strip() if readable else ""
        if not line.startswith("READY "):
            raise SystemExit(f"{name} did not start; see {self.logs / (name + '.log')}")
        return line.removeprefix("READY ")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the bot exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)  # waiting for a child process to come up
    raise SystemExit(f"the bot was not ready in {timeout:.0f} s; see {log}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--profile", metavar="FILE", help="py-spy the bot during the bursts")
    parser.add_argument(
        "--only",
        action="append",
        choices=PHASES,
        help="run only this phase (repeatable); the other figures read `not measured`",
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    children = Children(work)
    redis = RedisServer()
    python = sys.executable
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PAGERDUTY_"))}
    base_env["PYTHONPATH"] = str(ROOT)
    try:
        slack = children.start(
            "slack", [python, "-m", "bench.slack_process", "--users", str(sizes["users"])], base_env
        )
        slack_url = children.ready_line("slack", slack)
        with urllib.request.urlopen(f"{slack_url}bench/info") as r:
            info = json.load(r)
        bot_port = free_port()
        bot_http = f"http://127.0.0.1:{bot_port}"
        pd = children.start(
            "pagerduty",
            [
                python,
                "-m",
                "bench.pagerduty_process",
                "--webhook-url",
                f"{bot_http}/webhooks/pagerduty",
                "--webhook-secret",
                PD_WEBHOOK_SECRET,
            ],
            base_env,
        )
        pd_url = children.ready_line("pagerduty", pd)
        runbooks = work / "runbooks"
        runbooks.mkdir()
        write_runbook(runbooks)
        config = work / "incident.yaml"
        config.write_text(config_text(info, runbooks))
        env = {
            **base_env,
            "SLACK_BOT_TOKEN": info["bot_token"],
            "SLACK_SIGNING_SECRET": info["signing_secret"],
            "SLACK_API_URL": info["api_url"],
            "REDIS_URL": redis.url,
            "INCIDENT_CONFIG": str(config),
            "PAGERDUTY_API_KEY": "pd-fake-key",
            "PAGERDUTY_API_URL": pd_url,
            "PAGERDUTY_EVENTS_URL": pd_url,
            "PAGERDUTY_FROM_EMAIL": "alice@example.com",
            "PAGERDUTY_WEBHOOK_SECRET": PD_WEBHOOK_SECRET,
            "ALERTMANAGER_TOKEN": "bench-token",
            "LOG_LEVEL": "WARNING",
        }
        bot = children.start(
            "bot", [python, "-m", "bot"], {**env, "PORT": str(bot_port), "HOST": "127.0.0.1"}
        )
        wait_ready(f"{bot_http}/readyz", bot, work / "bot.log")
        bare_port = free_port()
        bare = children.start(
            "bare_bolt", [python, "-m", "bench.bare_bolt"], {**env, "PORT": str(bare_port)}
        )
        bare_url = children.ready_line("bare_bolt", bare)
        spec = {
            "sizes": sizes,
            "bot_pid": bot.pid,
            "bot_http": bot_http,
            "bot_url": f"{bot_http}/slack/events",
            "bare_url": bare_url,
            "slack_url": slack_url,
            "redis_url": redis.url,
            "matrix_after": MATRIX_AFTER,
            "profile": str(Path(args.profile).resolve()) if args.profile else None,
            "only": args.only or [],
        }
        (work / "spec.json").write_text(json.dumps(spec))
        machine = os.getloadavg()[0]
        print(
            f"bench ({'quick' if args.quick else 'full'} sizes): bot pid {bot.pid}, logs in "
            f"{work}; load average {machine:.1f} on {os.cpu_count()} cores",
            flush=True,
        )
        load = subprocess.run(
            [python, "-m", "bench.load", str(work / "spec.json")], cwd=ROOT, env=env
        )
        return load.returncode
    finally:
        children.stop()
        redis.stop()


if __name__ == "__main__":
    sys.exit(main())

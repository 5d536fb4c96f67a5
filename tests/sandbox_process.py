"""`python -m bot` in sandbox mode as a child process, the way a newcomer starts it.

Used by the browser test, the sandbox start-up tests and docs/screenshot.py. The child's
environment is the parent's minus everything that would make it talk to real services
(Slack tokens, REDIS_URL, PagerDuty), plus what the caller passes.
tests/integration/harness.py `served_sandbox` builds it in the test's own process instead,
for tests that look inside (its fakes, its parts).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
URL_RE = re.compile(r"http://localhost:(\d+)/")
# Variables that would point the child at real services or real credentials.
SCRUBBED = (
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_API_URL",
    "REDIS_URL",
    "PAGERDUTY_API_KEY",
    "PAGERDUTY_API_URL",
    "PAGERDUTY_EVENTS_URL",
    "PAGERDUTY_WEBHOOK_SECRET",
    "INCIDENT_CONFIG",
)


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment without SCRUBBED, plus extra."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in SCRUBBED}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SandboxProcess:
    """Start on enter, stop (SIGINT, as Ctrl-C) on exit. `line` is what it printed first."""

    def __init__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 20,
        python: str = sys.executable,
        cwd: Path = ROOT,
    ) -> None:
        self.args = args
        self.python = python
        self.cwd = cwd
        self.port = free_port()
        self.env = child_env(PORT=str(self.port), **(env or {}))
        self.timeout = timeout
        self.line = ""
        self.url = ""
        self.returncode: int | None = None
        self.log_text = ""  # its stderr (the log), once it has stopped
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in __exit__)
            prefix="sandbox-", suffix=".log", delete=False
        )

    def __enter__(self) -> SandboxProcess:
        self.proc = subprocess.Popen(
            [self.python, "-m", "bot", *self.args],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.put(line)
            lines.put("")  # EOF: the process ended

        threading.Thread(target=pump, daemon=True).start()
        try:
            self.line = lines.get(timeout=self.timeout).strip()
        except queue.Empty:
            self.line = ""
        match = URL_RE.search(self.line)
        if not match:
            log = self.log()
            self.__exit__(None, None, None)
            raise RuntimeError(
                f"`python -m bot {' '.join(self.args)}` printed {self.line!r} instead of its "
                f"URL; its log:\n{log}"
            )
        self.url = match.group(0)
        return self

    def log(self) -> str:
        return Path(self._log.name).read_text(errors="replace")[-4000:]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)  # a hang guard: a clean stop takes about a second
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.returncode = self.proc.returncode
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()
        self.log_text = Path(self._log.name).read_text(errors="replace")
        Path(self._log.name).unlink(missing_ok=True)

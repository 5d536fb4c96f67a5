"""The README's run command on a fresh clone, run as a newcomer runs it: `python3 -m bot`
with only the system Python on PATH (/usr/bin first, .ci/system-python), no virtual
environment active, nothing installed. The bot sets up `.venv` in the clone itself
(bot/venv.py) and serves the sandbox; a second start reuses the venv.

It installs the bot's runtime dependencies into the clone's fresh venv: from pip's cache
this takes about 45 s on a CI machine (the suite's own `.venv`, made by tests/run.sh just
before, filled that cache); with a cold cache it downloads them (a minute or two). It runs
in CI like any other test; the timeout below is for a slow download.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.request import urlopen

import pytest

from bot.venv import STAMP
from tests.sandbox_process import ROOT, SandboxProcess

# variables that would hand the child this suite's Python instead of the system's
NOT_A_NEWCOMERS = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "INCIDENT_BOT_VENV")


def system_python() -> str:
    return subprocess.run(
        [str(ROOT / ".ci" / "system-python")], capture_output=True, text=True, check=True
    ).stdout.strip()


def clone_working_tree(target: Path) -> None:
    """`git clone` of this checkout, plus its uncommitted changes and new files: the tree
    as it would be committed now (what CI clones)."""

    def git(*args: str, cwd: Path = ROOT, stdin: bytes | None = None) -> bytes:
        done = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    git("clone", "-q", "--no-hardlinks", str(ROOT), str(target))
    diff = git("diff", "HEAD", "--binary")
    if diff:
        git("apply", "--whitespace=nowarn", "-", cwd=target, stdin=diff)
    for name in git("ls-files", "--others", "--exclude-standard", "-z").split(b"\0"):
        if name:
            source, copy = ROOT / os.fsdecode(name), target / os.fsdecode(name)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy)


def newcomer(clone: Path, python: str) -> SandboxProcess:
    """`python3 -m bot` in the clone, PATH holding only the system Python's folder."""
    path = ":".join(dict.fromkeys([str(Path(python).parent), "/usr/bin", "/bin"]))
    sandbox = SandboxProcess(python="python3", cwd=clone, timeout=540, env={"PATH": path})
    for name in NOT_A_NEWCOMERS:
        sandbox.env.pop(name, None)
    return sandbox


@pytest.mark.timeout(600)
def test_the_readme_run_command_serves_the_sandbox_on_a_fresh_clone(tmp_path: Path) -> None:
    python = system_python()
    clone = tmp_path / "incident-bot"
    clone_working_tree(clone)
    assert not (clone / ".venv").exists()
    try:
        with newcomer(clone, python) as first, urlopen(first.url, timeout=30) as page:
            assert page.status == 200 and "Message" in page.read().decode()
        assert first.returncode == 0 and "Traceback" not in first.log_text
        has_deps = subprocess.run(
            [python, "-c", "from bot.venv import missing_requirements as m; exit(bool(m()))"],
            cwd=clone,
        )
        if has_deps.returncode == 0:  # a system Python with the bot's packages: used as is
            assert not (clone / ".venv").exists()
            return
        # the venv was made in the clone, the bot installed, and the process ran inside it
        assert f"Setting up {clone / '.venv'}" in first.log_text
        assert (clone / ".venv" / STAMP).is_file()
        with newcomer(clone, python) as second, urlopen(second.url, timeout=30) as page:
            assert page.status == 200
        assert "Setting up" not in second.log_text  # reused, not made again
    finally:
        shutil.rmtree(clone, ignore_errors=True)  # a venv is a few hundred MB

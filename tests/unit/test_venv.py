"""bot/venv.py: when `python3 -m bot` sets up `.venv`, when it must not, and what it says
when it cannot. The whole first run on a fresh clone is tests/integration/test_newcomer.py.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from bot.venv import (
    ROOT,
    STAMP,
    VenvError,
    _extra_requirements,
    _satisfies,
    ensure,
    missing_requirements,
    up_to_date,
)

DEBIAN_WITHOUT_VENV = """#!/bin/sh
echo "The virtual environment was not created successfully because ensurepip is not
available.  On Debian/Ubuntu systems, you need to install the python3-venv
package using the following command." >&2
exit 1
"""


def test_version_bounds() -> None:
    assert _satisfies("3.14.4", ">=3.14.4") and not _satisfies("3.13.9", ">=3.14.4")
    assert _satisfies("3.11.2", ">=3.10,<4") and not _satisfies("4.0", ">=3.10,<4")
    assert _satisfies("2.0.0rc1", ">=2.0") and _satisfies("1.0", "")


def test_this_suite_runs_with_every_requirement() -> None:
    assert missing_requirements({"dev"}) == []
    # an extra's packages count too: the sandbox's Redis runs Lua through lupa
    assert any(r.startswith("lupa") for r in _extra_requirements("fakeredis", "[lua]"))


def test_the_stamp_says_whether_the_venv_is_current(tmp_path: Path) -> None:
    venv = tmp_path / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    assert not up_to_date(set(), venv)  # never installed
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    (venv / STAMP).write_text(f"{digest}\n\n")
    assert up_to_date(set(), venv) and not up_to_date({"dev"}, venv)
    (venv / STAMP).write_text(f"{digest}\ndev\n")
    assert up_to_date({"dev"}, venv) and up_to_date(set(), venv)
    (venv / STAMP).write_text(f"{'0' * 64}\ndev\n")  # pyproject.toml changed since
    assert not up_to_date(set(), venv)


def test_a_python_without_venv_support_gets_one_line_naming_the_package(tmp_path: Path) -> None:
    python = tmp_path / "python3"
    python.write_text(DEBIAN_WITHOUT_VENV)
    python.chmod(0o755)
    with pytest.raises(VenvError) as err:
        ensure(python=str(python), venv=tmp_path / ".venv")
    message = str(err.value)
    assert "\n" not in message
    assert "no venv/ensurepip module" in message and "sudo apt install python3-venv" in message


def run_bot(python: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-m", "bot", "check-drills"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def bare_venv(where: Path) -> str:
    """A venv with nothing installed, made by this suite's Python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    return str(where / "bin" / "python")


def test_inside_a_venv_without_the_packages_it_says_so_and_sets_up_nothing(
    tmp_path: Path,
) -> None:
    python = bare_venv(tmp_path / "theirs")
    before = (ROOT / ".venv").exists()
    done = run_bot(python)
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"Cannot start: the Python environment {tmp_path / 'theirs'} lacks ")
    assert "slack-bolt" in line and "-m pip install -e ." in line
    assert (ROOT / ".venv").exists() == before  # nothing made: not ours to replace


def test_the_re_executed_process_never_sets_up_again(tmp_path: Path) -> None:
    # as if .venv had been made and the bot re-ran in it, and its packages were still missing
    python = bare_venv(tmp_path / "made")
    done = run_bot(python, INCIDENT_BOT_VENV=str(tmp_path / "made"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1 and "lacks" in done.stderr

"""`python -m bench --quick` runs end to end: every process starts, every phase finishes,
and the table has a line for each figure of issue 19. No figure is checked: on a shared
test machine they measure the machine (the bench is run by hand, on a quiet one). About
20 s on an idle 2-core machine, so it runs with the suite."""

from __future__ import annotations

import subprocess
import sys

from bench.load import FIGURES
from tests.sandbox_process import ROOT, child_env


def test_the_quick_bench_prints_every_figure() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    for _, label, goal in FIGURES:
        [line] = [line for line in lines if line.startswith(label)]
        assert goal in line and "not measured" not in line, line
    assert any("sequential Slack calls" in line for line in lines), done.stdout

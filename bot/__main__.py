"""`python -m bot [serve | sandbox | check-config [FILE] | check-runbooks [DIR] |
check-drills [DIR] | doctor | config-reference]` (bot/cli.py). Run from a checkout whose
Python lacks the bot's dependencies, it first sets up `.venv` there and runs inside it
(bot/venv.py)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from bot.cli import main as run

    return run(argv)


if __name__ == "__main__":
    from bot.venv import run_in_venv_if_needed

    run_in_venv_if_needed(sys.argv[1:])
    sys.exit(main())

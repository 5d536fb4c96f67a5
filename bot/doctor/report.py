"""Summing up a checklist: the exit code and the plain text `python -m bot doctor` prints
(blocks/doctor.py renders the same results for Slack)."""

from __future__ import annotations

from collections.abc import Iterable

from bot.core.models import CheckResult, CheckStatus

SYMBOLS: dict[CheckStatus, str] = {"ok": "✓", "warn": "!", "fail": "✗", "skip": "-"}


def exit_code(results: Iterable[CheckResult]) -> int:
    """0 only when nothing failed (warnings and skipped checks do not count)."""
    return 1 if any(r.status == "fail" for r in results) else 0


def summary(results: list[CheckResult]) -> str:
    counts = {s: sum(1 for r in results if r.status == s) for s in SYMBOLS}
    parts = []
    if counts["fail"]:
        parts.append(f"{counts['fail']} to fix")
    if counts["warn"]:
        parts.append(f"{counts['warn']} warning{'s' if counts['warn'] != 1 else ''}")
    parts.append(f"{counts['ok']} passed")
    if counts["skip"]:
        parts.append(f"{counts['skip']} not checked")
    return ", ".join(parts) + "."


def report_text(results: list[CheckResult]) -> str:
    """The plain-text checklist the CLI prints: one line a check, its fix under it."""
    lines: list[str] = []
    for group in dict.fromkeys(r.group for r in results):  # in report order
        mine = [r for r in results if r.group == group]
        lines.append(group)
        for r in mine:
            lines.append(f"  {SYMBOLS[r.status]} {r.name}: {_indent(r.detail, 6)}")
            if r.fix:
                lines.append(f"      fix: {_indent(r.fix, 11)}")
    lines.append("")
    lines.append(summary(results))
    return "\n".join(lines)


def _indent(text: str, width: int) -> str:
    return text.replace("\n", "\n" + " " * width)

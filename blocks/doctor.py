"""Block Kit for `/incident doctor`: the set-up checklist, grouped, each problem with its fix.

Pure: `CheckResult`s in, `(fallback_text, blocks)` out. One section per group keeps even a
long checklist far below Slack's 50 blocks; a group longer than a section's 3000
characters continues in the next section.
"""

from __future__ import annotations

from blocks.common import (
    SECTION_TEXT_MAX,
    Block,
    Message,
    Mrkdwn,
    clip,
    context,
    header,
    md,
    section,
)
from blocks.mrkdwn import join
from bot.core.models import CheckResult, CheckStatus

EMOJI: dict[CheckStatus, str] = {
    "ok": ":white_check_mark:",
    "warn": ":warning:",
    "fail": ":x:",
    "skip": ":white_circle:",
}
TEXT_MARK: dict[CheckStatus, str] = {"ok": "✓", "warn": "!", "fail": "✗", "skip": "-"}
MAX_BLOCKS = 50


def _line(r: CheckResult) -> Mrkdwn:
    text = md("{} *{}*: {}", EMOJI[r.status], r.name, r.detail)
    if r.fix:
        text += md("\n        _Fix:_ {}", r.fix)
    return clip(text, SECTION_TEXT_MAX - 200)


def _sections(title: str, lines: list[Mrkdwn]) -> list[Block]:
    """`*title*` and the lines, split into sections of at most 3000 characters."""
    out: list[Block] = []
    current = md("*{}*", title)
    for line in lines:
        if len(current) + 1 + len(line) > SECTION_TEXT_MAX:
            out.append(section(current))
            current = md("*{}* (continued)", title)
        current = md("{}\n{}", current, line)
    out.append(section(current))
    return out


def headline(results: list[CheckResult]) -> Mrkdwn:
    failed = sum(1 for r in results if r.status == "fail")
    warned = sum(1 for r in results if r.status == "warn")
    passed = sum(1 for r in results if r.status == "ok")
    skipped = sum(1 for r in results if r.status == "skip")
    if failed:
        lead = md(":x: *{} problem{} to fix*", failed, "s" if failed != 1 else "")
    elif warned:
        lead = md(":warning: *Working, with warnings*")
    else:
        lead = md(":white_check_mark: *All set*")
    tail = [f"{warned} warning{'s' if warned != 1 else ''}"] if warned else []
    tail.append(f"{passed} passed")
    if skipped:
        tail.append(f"{skipped} not checked")
    return md("{} · {}", lead, ", ".join(tail))


def doctor_report(results: list[CheckResult], *, seconds: float | None = None) -> Message:
    """The checklist as one ephemeral message."""
    blocks: list[Block] = [header("Set-up check"), section(headline(results))]
    for group in dict.fromkeys(r.group for r in results):  # in report order
        mine = [r for r in results if r.group == group]
        blocks.extend(_sections(group, [_line(r) for r in mine]))
    note = md(
        "The same checklist from a shell: `python -m bot doctor` (exit code 1 while any :x:)."
    )
    if seconds is not None:
        note = md("Checked in {:.1f} s. {}", seconds, note)
    if len(blocks) >= MAX_BLOCKS:  # a checklist this long is cut, never refused by Slack
        more = section(md("_…more lines: run the command below._"))
        blocks = [*blocks[: MAX_BLOCKS - 2], more]
    blocks.append(context(note))
    fallback = join(
        [md("Set-up check: {}", headline(results))]
        + [
            md("{} {}: {}", TEXT_MARK[r.status], r.name, r.detail)
            for r in results
            if r.status != "ok"
        ],
        "\n",
    )
    return clip(fallback, 3000), blocks

"""What a person is told when Slack's payload lacks what the bot needs (handlers/payloads.py
reads the payloads): one sentence saying what was missing and what to do, never a trace.
Pure: plain dicts, no I/O."""

from __future__ import annotations

from typing import Any

from blocks.common import Message, Mrkdwn, md, plain, section

AGAIN = md("Try it again.")


def malformed(what: str, missing: str, *, hint: Mrkdwn = AGAIN) -> Message:
    """`what` (a click, a form, a command) came without `missing`: nothing was done."""
    text = md(":warning: That {} came without {}, so nothing was done. {}", what, missing, hint)
    return text, [section(text)]


def malformed_form(message: Message) -> dict[str, Any]:
    """A submitted form the bot could not read: the form itself turns into the answer (its
    submission acks with `response_action: update`), to close and open again."""
    _, blocks = message
    return {
        "type": "modal",
        "title": plain("Not sent", 24),
        "close": plain("Close", 24),
        "blocks": blocks,
    }

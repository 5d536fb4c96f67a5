"""The sandbox colours an answer (an ephemeral message) by how it went, never by the
severity it names: the declarer's "Declared … (SEV1)" is no red alarm."""

from __future__ import annotations

from bot.sandbox.render import RenderContext
from bot.sandbox.render.surfaces import answer_tone, render_message

CTX = RenderContext(viewer="U0ALICE", bot_user_id="U0BOT")


def _answer(text: str, **extra: object) -> dict[str, object]:
    return {"channel": "C1", "ts": "1.000001", "user": "U0BOT", "text": text, **extra}


def test_the_tone_comes_from_the_emoji_the_answer_opens_with() -> None:
    assert answer_tone(_answer(":white_check_mark: Asked in #inc-1.")) == "ok"
    assert answer_tone(_answer("✅ Done")) == "ok"
    assert answer_tone(_answer(":warning: Give a severity.")) == "error"
    assert answer_tone(_answer(":no_entry: Only the commander may resolve.")) == "error"
    assert answer_tone(_answer("Declared 20260101-1 (SEV1): Checkout down")) is None
    section = {"type": "section", "text": {"type": "mrkdwn", "text": ":x: Paging failed"}}
    assert answer_tone(_answer("fallback", blocks=[section])) == "error"


def test_an_answer_gets_its_tone_and_no_severity_bar() -> None:
    declared = render_message(_answer("Declared 1 (SEV1): Down", ephemeral_to="U0ALICE"), CTX)
    assert 'class="msg msg-ephemeral"' in declared
    refused = render_message(_answer(":warning: No incident here", ephemeral_to="U0ALICE"), CTX)
    assert 'class="msg msg-ephemeral msg-error"' in refused
    # in the channel, the announcement keeps its bar and no tone
    posted = render_message(_answer("Declared 1 (SEV1): Down"), CTX)
    assert 'class="msg msg-sev-1"' in posted

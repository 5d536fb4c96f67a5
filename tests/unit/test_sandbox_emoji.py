"""Every emoji shortcode the bot writes shows as an emoji in the sandbox, as in Slack.

The shortcodes are found in the bot's own text (bot/, blocks/, handlers/, runbooks/,
drills/; not the renderer's docstrings): a new one the `emoji` package does not know by
Slack's name fails here, and gets its spelling in bot/sandbox/render/mrkdwn.py's
SLACK_NAMES.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.sandbox.render import RenderContext, render_mrkdwn, render_plain, shortcode

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("bot", "blocks", "handlers", "runbooks", "drills")
SUFFIXES = {".py", ".yaml", ".yml", ".j2", ".md"}
RENDERER = ROOT / "bot" / "sandbox" / "render"  # speaks of `:name:` in its docstrings
# `:name:` standing alone: not a piece of a Redis key (`ir:incident:…`), a URL or a time.
SHORTCODE_RE = re.compile(r"(?<![\w}:/.\-]):([a-z0-9_+\-]+):(?![\w{:/])")


def shortcodes_in_code() -> dict[str, str]:
    """name -> the first file (relative) that uses it."""
    found: dict[str, str] = {}
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix not in SUFFIXES or not path.is_file() or RENDERER in path.parents:
                continue
            for name in SHORTCODE_RE.findall(path.read_text(encoding="utf-8")):
                found.setdefault(name, str(path.relative_to(ROOT)))
    return found


USED = shortcodes_in_code()


def test_the_scan_finds_the_bots_shortcodes() -> None:
    # the newcomer's two, and one Slack spells differently from the package
    assert {"loudspeaker", "outbox_tray", "large_green_circle"} <= USED.keys()


@pytest.mark.parametrize("name", sorted(USED))
def test_every_shortcode_the_bot_uses_renders_as_an_emoji(name: str) -> None:
    out = render_mrkdwn(f"before :{name}: after", RenderContext())
    assert f":{name}:" not in out, f":{name}: (in {USED[name]}) has no emoji in the sandbox"
    assert shortcode(name), name


def test_slacks_own_names_and_unknown_codes() -> None:
    assert render_mrkdwn(":large_yellow_circle: :calendar: :+1:", RenderContext()) == "🟡 📆 👍"
    # a name neither Slack nor the package knows stays as typed, as Slack shows it
    assert render_mrkdwn(":no_such_emoji_here:", RenderContext()) == ":no_such_emoji_here:"
    # plain_text with emoji: false keeps the code
    assert render_plain({"type": "plain_text", "text": ":fire:", "emoji": False}) == ":fire:"
    assert render_plain({"type": "plain_text", "text": ":fire:"}) == "🔥"

"""Text for the sandbox page: who is looking (RenderContext), plain text, emoji, and
Slack mrkdwn (formatting, mentions, channels, dates, links) turned into escaped HTML."""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from emoji import emojize

Block = Mapping[str, Any]


@dataclass(frozen=True)
class RenderContext:
    """What the renderer needs to know about the workspace, and who is looking."""

    users: Mapping[str, str] = field(default_factory=dict)  # user id -> display name
    channels: Mapping[str, str] = field(default_factory=dict)  # channel id -> name
    usergroups: Mapping[str, str] = field(default_factory=dict)  # subteam id -> handle
    viewer: str | None = None  # the user the page acts as
    bot_user_id: str | None = None
    bot_name: str = "Incident Bot"

    def user_name(self, user_id: str) -> str:
        if self.bot_user_id and user_id == self.bot_user_id:
            return self.bot_name
        return self.users.get(user_id, user_id)

    def channel_name(self, channel_id: str) -> str:
        return self.channels.get(channel_id, channel_id)


# --------------------------------------------------------------------------- text


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def slack_unescape(text: str) -> str:
    # Slack text escapes exactly these three; anything else is shown as typed.
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def slack_text(text: str) -> str:
    """Slack-escaped plain text -> HTML-escaped text."""
    return esc(slack_unescape(text))


# Shortcodes come from a maintained table (the `emoji` package's English names and
# aliases); Slack names a few emoji differently (its names are emoji-data's), and those
# are spelled here in the package's words. Unknown codes stay as typed, as in Slack.
SLACK_NAMES: dict[str, str] = {
    "large_green_circle": "green_circle",
    "large_orange_circle": "orange_circle",
    "large_yellow_circle": "yellow_circle",
    "large_purple_circle": "purple_circle",
    "large_brown_circle": "brown_circle",
}
_EMOJI_RE = re.compile(r":([a-z0-9_+\-]+):")


@functools.cache
def shortcode(name: str) -> str | None:
    """The emoji Slack shows for `:name:`, or None when it knows no such name."""
    code = f":{SLACK_NAMES.get(name, name)}:"
    found = emojize(code, language="alias")
    return None if found == code else found


def emoji(escaped: str) -> str:
    """Every `:name:` Slack would show as an emoji, replaced by it."""
    return _EMOJI_RE.sub(lambda m: shortcode(m.group(1)) or m.group(0), escaped)


def render_plain(obj: Mapping[str, Any] | str | None) -> str:
    """A `plain_text` (or mrkdwn used as a label) object as escaped text, no markup."""
    if obj is None:
        return ""
    if isinstance(obj, str):
        return emoji(slack_text(obj))
    text = slack_text(str(obj.get("text", "")))
    return emoji(text) if obj.get("emoji", True) else text


def render_text(obj: Mapping[str, Any] | None, ctx: RenderContext) -> str:
    """A Block Kit text object: mrkdwn is formatted, plain_text is escaped."""
    if not obj:
        return ""
    if obj.get("type") == "mrkdwn":
        return render_mrkdwn(str(obj.get("text", "")), ctx)
    return render_plain(obj).replace("\n", "<br>")


# --------------------------------------------------------------------------- mrkdwn

# Pieces that must not be touched by *bold*/_italic_ rules are swapped for placeholders
# first (code, then <...> tokens), the rest is escaped and formatted, then swapped back.
_PH = "\x00{}\x00"
_PH_RE = re.compile("\x00(\\d+)\x00")
_CODE_BLOCK_RE = re.compile(r"```\n?([\s\S]*?)```")
_CODE_RE = re.compile(r"`([^`\n]+)`")
_TOKEN_RE = re.compile(r"<([^<>\n]+)>")
# Slack only formats when the markers sit at word edges: snake_case and 2*3*4 stay as typed.
_BOLD_RE = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC_RE = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_STRIKE_RE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")
_SAFE_URL_RE = re.compile(r"^(https?://|mailto:|tel:|slack://)", re.IGNORECASE)
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def link_html(url: str, label_html: str) -> str:
    url = slack_unescape(url)
    if not _SAFE_URL_RE.match(url):
        # javascript: and friends are shown, never made clickable.
        return label_html
    return f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer">{label_html}</a>'


def iso_utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat().replace("+00:00", "Z")


def render_date(epoch: str, fmt: str, fallback: str, link: str | None = None) -> str:
    """`<!date^epoch^format^link|fallback>` -> a `<time>` app.js localises."""
    try:
        iso = iso_utc(float(epoch))
    except (ValueError, OverflowError, OSError):
        return slack_text(fallback)
    out = (
        f'<time datetime="{iso}" data-format="{esc(slack_unescape(fmt))}">'
        f"{slack_text(fallback or iso)}</time>"
    )
    return link_html(link, out) if link else out


def render_token(body: str, ctx: RenderContext) -> str:
    """The inside of one `<...>`: a mention, a channel, a date, a special or a link."""
    target, _, label = body.partition("|")
    if target.startswith("@"):
        uid = target[1:]
        name = label or ctx.user_name(uid)
        me = " bk-mention-me" if uid == ctx.viewer else ""
        return f'<span class="bk-mention{me}" data-user-id="{esc(uid)}">@{slack_text(name)}</span>'
    if target.startswith("#"):
        cid = target[1:]
        name = ctx.channels.get(cid) or label or cid
        return (
            f'<a class="bk-channel" href="#{esc(cid)}" data-channel-id="{esc(cid)}">'
            f"#{slack_text(name)}</a>"
        )
    if target.startswith("!"):
        return render_special(target[1:], label, ctx)
    if _SCHEME_RE.match(target):
        return link_html(target, _format(label) if label else slack_text(target))
    # Not a Slack token at all (e.g. a bare `<script>`): show it exactly as typed.
    return slack_text(f"<{body}>")


def render_special(cmd: str, label: str, ctx: RenderContext) -> str:
    if cmd.startswith("date^"):
        parts = cmd.split("^")
        epoch = parts[1] if len(parts) > 1 else ""
        fmt = parts[2] if len(parts) > 2 else "{date_short_pretty} {time}"
        link = parts[3] if len(parts) > 3 else None
        return render_date(epoch, fmt, label, link)
    if cmd in ("channel", "here", "everyone"):
        return f'<span class="bk-mention bk-broadcast">@{cmd}</span>'
    if cmd.startswith("subteam^"):
        sid = cmd.split("^", 1)[1]
        handle = label.lstrip("@") or ctx.usergroups.get(sid, sid)
        return (
            f'<span class="bk-mention bk-group" data-group-id="{esc(sid)}">'
            f"@{slack_text(handle)}</span>"
        )
    return slack_text(label or cmd)


def render_mrkdwn(text: str, ctx: RenderContext) -> str:
    """Slack mrkdwn -> HTML. Escapes everything; only the formatting becomes tags."""
    saved: list[str] = []

    def keep(fragment: str) -> str:
        saved.append(fragment)
        return _PH.format(len(saved) - 1)

    text = text.replace("\x00", "")
    text = _CODE_BLOCK_RE.sub(lambda m: keep(f"<pre>{slack_text(m.group(1))}</pre>"), text)
    text = _CODE_RE.sub(lambda m: keep(f"<code>{slack_text(m.group(1))}</code>"), text)
    text = _TOKEN_RE.sub(lambda m: keep(render_token(m.group(1), ctx)), text)
    out = _quotes(_format(text))
    out = out.replace("\n", "<br>")
    # Placeholders may nest (a link label never holds code, but keep it general).
    while _PH_RE.search(out):
        out = _PH_RE.sub(lambda m: saved[int(m.group(1))], out)
    return out


def _format(text: str) -> str:
    """Escape, then turn *bold*, _italic_, ~strike~ and :emoji: into markup."""
    out = emoji(slack_text(text))
    out = _BOLD_RE.sub(r"<b>\1</b>", out)
    out = _ITALIC_RE.sub(r"<i>\1</i>", out)
    return severity(_STRIKE_RE.sub(r"<s>\1</s>", out))


SEV_RE = re.compile(r"\bSEV([1-4])\b")


def severity(escaped: str) -> str:
    """SEV1..SEV4 get their colour (style.css) wherever the bot writes them."""
    return SEV_RE.sub(r'<span class="sev sev-\1">SEV\1</span>', escaped)


def _quotes(escaped: str) -> str:
    """Lines starting with `>` (escaped by now) become one blockquote per run of lines."""
    if "&gt;" not in escaped:
        return escaped
    out: list[str] = []
    quote: list[str] = []
    for line in [*escaped.split("\n"), None]:
        if line is not None and line.startswith("&gt;"):
            quote.append(line[4:].removeprefix(" "))
            continue
        if quote:
            out.append("<blockquote>" + "\n".join(quote) + "</blockquote>")
            quote = []
        if line is not None:
            out.append(line)
    return "\n".join(out)

"""Slack's text format, both ways: `Mrkdwn`, the only kind of text the bot sends where
Slack renders or notifies (the `text` fallback, mrkdwn objects, topics), and reading the
text Slack sends us back as what its reader saw.

Slack treats `&`, `<` and `>` as control characters: `<@U…>`, `<!everyone>`,
`<!subteam^S…>`, `<!date^…>` and `<url|label>` are live only when written with real
brackets, and a text shows `&lt;` as `<` (https://api.slack.com/reference/surfaces/formatting,
"Escaping text"). So:

- `Mrkdwn` is a `str` in which every `&`, `<`, `>` is either escaped or part of a token
  the bot made. It is built only by `escape`, `md` (a template the bot wrote, its fields
  escaped) and the token constructors here (`user`, `channel`, `usergroup`, `date`,
  `link`, `broadcast`); `Mrkdwn(x)` escapes `x`, and `+`, `join` and `format` escape every
  plain `str` they are given (markupsafe's `Markup`, for Slack's three characters). Any
  other `str` method gives back a plain `str`, which the next builder escapes again.
- Inbound, Slack escapes what people typed and sends real mentions, channels and links
  as tokens (a slash command with `should_escape`: `<@U123|bob>`; typed `<` as `&lt;`).
  `readable` turns such text into what its reader saw (`@bob`, `label (url)`, `<`), for
  storing as plain text; `sanitize` keeps only its real user and channel mentions live,
  for the timeline. Nothing turns escaped text back into tokens.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, LiteralString, overload

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_CONTROL = re.compile(r"[&<>]")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_UNESCAPES = {"amp": "&", "lt": "<", "gt": ">"}

USER_ID = re.compile(r"[UW][A-Z0-9]+")
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]+")
GROUP_ID = re.compile(r"S[A-Z0-9]+")
_URL = re.compile(r"(?:https?://|mailto:)[^\s<>|]+", re.IGNORECASE)


class Mrkdwn(str):
    """Text that is safe to hand Slack as mrkdwn: see the module docstring."""

    __slots__ = ()

    def __new__(cls, text: object = "") -> Mrkdwn:
        if isinstance(text, Mrkdwn):
            return text
        return str.__new__(cls, _CONTROL.sub(lambda m: _ESCAPES[m.group(0)], str(text)))

    @classmethod
    def _trusted(cls, text: str) -> Mrkdwn:
        return str.__new__(cls, text)

    @classmethod
    def stored(cls, text: str) -> Mrkdwn:
        """Mrkdwn the bot wrote and stored itself (a timeline entry marked as such)."""
        return cls._trusted(text)

    def __add__(self, other: str) -> Mrkdwn:
        return Mrkdwn._trusted(str.__add__(self, Mrkdwn(other)))

    def __radd__(self, other: str) -> Mrkdwn:
        return Mrkdwn._trusted(str.__add__(Mrkdwn(other), self))

    def join(self, parts: Iterable[str]) -> Mrkdwn:
        return Mrkdwn._trusted(str.join(self, (Mrkdwn(p) for p in parts)))

    def format(self, *args: object, **kwargs: object) -> Mrkdwn:
        return Mrkdwn._trusted(_FORMATTER.vformat(self, args, kwargs))

    def __repr__(self) -> str:
        return f"Mrkdwn({str.__repr__(self)})"


class _EscapingFormatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Mrkdwn) and not format_spec:
            return value
        return Mrkdwn(super().format_field(value, format_spec))


_FORMATTER = _EscapingFormatter()


def escape(text: object) -> Mrkdwn:
    """User or alert text as mrkdwn that shows it as typed (Mrkdwn passes unchanged)."""
    return Mrkdwn(text)


def md(template: LiteralString, *args: object, **kwargs: object) -> Mrkdwn:
    """The bot's own mrkdwn: `template` is trusted markup, every field is escaped unless it
    is Mrkdwn already. `md("*{}* by {}", title, user(uid))`."""
    trusted = Mrkdwn._trusted(template)
    return trusted.format(*args, **kwargs) if args or kwargs else trusted


def join(parts: Iterable[str], sep: LiteralString = ", ") -> Mrkdwn:
    return Mrkdwn._trusted(sep).join(parts)


# -- the bot's tokens: each checks what it is given, so stored ids cannot carry markup --


def user(user_id: str) -> Mrkdwn:
    """A live mention of a Slack user; anything but a user id is shown as text."""
    if USER_ID.fullmatch(user_id):
        return Mrkdwn._trusted(f"<@{user_id}>")
    return Mrkdwn(user_id)


def channel(channel_id: str | None, fallback: str = "") -> Mrkdwn:
    """A channel link by id; `#fallback` (as text) without one."""
    if channel_id and CHANNEL_ID.fullmatch(channel_id):
        return Mrkdwn._trusted(f"<#{channel_id}>")
    return Mrkdwn(f"#{fallback or channel_id or ''}")


def usergroup(group_id: str) -> Mrkdwn:
    """A user group mention (it notifies the group's members)."""
    if GROUP_ID.fullmatch(group_id):
        return Mrkdwn._trusted(f"<!subteam^{group_id}>")
    return Mrkdwn(group_id)


def broadcast(kind: str) -> Mrkdwn:
    """`<!here>` or `<!channel>`: only where the bot means to ring a whole channel."""
    if kind not in ("here", "channel"):
        raise ValueError(f"not a broadcast the bot sends: {kind}")
    return Mrkdwn._trusted(f"<!{kind}>")


_DATE_FORMAT = re.compile(r"[{}a-z_ ()·,:-]*")


def date(epoch: float, fmt: str = "{date_short_pretty} {time}") -> Mrkdwn:
    """A Slack date token: every reader sees their own timezone (DESIGN rule 4)."""
    if not _DATE_FORMAT.fullmatch(fmt):
        raise ValueError(f"not a date format: {fmt!r}")
    fallback = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return Mrkdwn._trusted(f"<!date^{int(epoch)}^{fmt}|{fallback}>")


def link(url: str | None, label: str = "") -> Mrkdwn:
    """A link to an http(s) or mailto URL, labelled `label` (or the URL). Anything else is
    shown as text, so a stored URL cannot smuggle markup or a scheme Slack would act on."""
    shown = label or url or ""
    if not url or not _URL.fullmatch(url):
        return Mrkdwn(shown)
    target = str(Mrkdwn(url)).replace("|", "%7C")
    if not label:
        return Mrkdwn._trusted(f"<{target}>")
    return Mrkdwn._trusted(f"<{target}|{Mrkdwn(label)}>")


@overload
def clip(text: Mrkdwn, limit: int) -> Mrkdwn: ...
@overload
def clip(text: str, limit: int) -> str: ...
def clip(text: str, limit: int) -> str:
    """`text` within `limit` characters (the last one an ellipsis). Mrkdwn stays Mrkdwn and
    is never cut inside a token or an entity; a plain str is cut anywhere."""
    if len(text) <= limit:
        return text
    if not isinstance(text, Mrkdwn):
        return text[: limit - 1] + "…"
    return Mrkdwn._trusted(text[: _safe_cut(text, limit - 1)] + "…")


def pieces(text: Mrkdwn, size: int) -> list[Mrkdwn]:
    """`text` in pieces of at most `size` characters, none cut inside a token or entity."""
    out: list[Mrkdwn] = []
    rest = str(text)
    while rest:
        cut = _safe_cut(rest, size) if len(rest) > size else len(rest)
        out.append(Mrkdwn._trusted(rest[: cut or size]))
        rest = rest[cut or size :]
    return out


def _safe_cut(text: str, at: int) -> int:
    """The last index up to `at` that is outside every `<…>` token and `&…;` entity."""
    cut = text[:at]
    opened = cut.rfind("<")
    if opened > cut.rfind(">"):
        cut = cut[:opened]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return len(cut)


# -- reading what Slack sends ----------------------------------------------------------

_WIRE_TOKEN = re.compile(r"<([^<>]*)>")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>")


def unescape(text: str) -> str:
    """Slack's three entities back to the characters, once."""
    return _ENTITY.sub(lambda m: _UNESCAPES[m.group(1)], text)


def _shown_link(url: str, label: str) -> str:
    bare = re.sub(r"^(?:https?://|mailto:)", "", url, flags=re.IGNORECASE)
    if not label or label in (url, bare):
        return label or url
    return f"{label} ({url})"  # a label that is not its URL is shown with it


def _read_token(
    body: str,
    users: Mapping[str, str] | None,
    links: Callable[[str, str], str],
) -> str:
    target, _, label = body.partition("|")
    label = unescape(label)
    if target.startswith("@"):
        uid = target[1:]
        if users and uid in users:
            return users[uid]
        return "@" + (label.lstrip("@") or uid)
    if target.startswith("#"):
        return "#" + (label.lstrip("#") or target[1:])
    if target.startswith("!date^"):
        return label or target.split("^")[1]
    if target.startswith("!subteam^"):
        return "@" + (label.lstrip("@") or target.removeprefix("!subteam^"))
    if target.startswith("!"):
        return "@" + (label.lstrip("@") or target[1:])
    return links(unescape(target), label)


def readable(
    wire: str,
    *,
    users: Mapping[str, str] | None = None,
    links: Callable[[str, str], str] = _shown_link,
) -> str:
    """Slack's text as its reader saw it, as plain text: mentions as `@name` (or
    `users[id]`), channels as `#name`, broadcasts as `@here`, dates as their fallback,
    links as `links(url, label)` (by default the label and, if it differs, the URL)."""
    out, pos = [], 0
    for m in _WIRE_TOKEN.finditer(wire):
        out.append(unescape(wire[pos : m.start()]))
        out.append(_read_token(m.group(1), users, links))
        pos = m.end()
    out.append(unescape(wire[pos:]))
    return "".join(out)


def sanitize(wire: str) -> Mrkdwn:
    """Slack's text as mrkdwn the bot may repeat: its real user and channel mentions stay
    live, everything else (broadcasts, user groups, labelled links, typed markup) is shown
    as text."""
    out: list[str] = []
    pos = 0
    for m in _WIRE_TOKEN.finditer(wire):
        out.append(escape(unescape(wire[pos : m.start()])))
        target = m.group(1).partition("|")[0]
        if target.startswith("@") and USER_ID.fullmatch(target[1:]):
            out.append(user(target[1:]))
        elif target.startswith("#") and CHANNEL_ID.fullmatch(target[1:]):
            out.append(channel(target[1:]))
        else:
            out.append(escape(_read_token(m.group(1), None, _shown_link)))
        pos = m.end()
    out.append(escape(unescape(wire[pos:])))
    return join(out, "")


def mention_id(word: str) -> str | None:
    """The user id when `word` is exactly one real mention token (`<@U123|bob>`)."""
    m = _MENTION.fullmatch(word)
    return m.group(1) if m else None


_DRAFTED = re.compile(r"<([@#])([A-Z0-9]+)>")


def keeping(text: str, *, users: Collection[str] = (), channels: Collection[str] = ()) -> Mrkdwn:
    """Plain text a person edited from a draft the bot gave them (a stakeholder update):
    escaped whole, except the exact `<@U…>` and `<#C…>` tokens of the `users` and
    `channels` the bot itself put in that draft. Any other token stays text."""
    out: list[str] = []
    pos = 0
    for m in _DRAFTED.finditer(text):
        sigil, target = m.group(1), m.group(2)
        allowed = users if sigil == "@" else channels
        if target in allowed:
            out.append(escape(text[pos : m.start()]))
            out.append(user(target) if sigil == "@" else channel(target))
            pos = m.end()
    out.append(escape(text[pos:]))
    return join(out, "")


def said(exc: BaseException) -> Mrkdwn:
    """An error's message for people: Mrkdwn when it was raised with some (it may name
    people: `IncidentError(md(...))`), else its text, escaped."""
    first = exc.args[0] if exc.args else ""
    return first if isinstance(first, Mrkdwn) else escape(str(exc))

"""What Slack reads in mrkdwn: whom a text notifies, what it links, what a reader sees."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r"<([^<>]*)>")
_ENTITY = re.compile(r"&(amp|lt|gt);")


@dataclass(frozen=True)
class Notice:
    """Whom a message (or topic) would notify and what it would link, read the way Slack
    reads mrkdwn: only real `<…>` tokens count; `&lt;!here&gt;` is text."""

    users: frozenset[str] = frozenset()  # <@U…>
    groups: frozenset[str] = frozenset()  # <!subteam^S…>
    broadcasts: frozenset[str] = frozenset()  # here / channel / everyone
    links: tuple[tuple[str, str], ...] = ()  # (url, label) of every <url|label> and <url>

    @property
    def disguised_links(self) -> list[tuple[str, str]]:
        """Links whose label is not their own URL (what a reader cannot see through)."""
        return [(u, label) for u, label in self.links if label and _bare(label) != _bare(u)]

    def __or__(self, other: Notice) -> Notice:
        return Notice(
            self.users | other.users,
            self.groups | other.groups,
            self.broadcasts | other.broadcasts,
            self.links + other.links,
        )


def _bare(url: str) -> str:
    return re.sub(r"^(?:https?://|mailto:)", "", _unescape(url), flags=re.IGNORECASE).rstrip("/")


def _unescape(text: str) -> str:
    return _ENTITY.sub(lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m.group(1)], text)


def notice(text: str) -> Notice:
    """What one mrkdwn string would notify and link in Slack."""
    users: set[str] = set()
    groups: set[str] = set()
    broadcasts: set[str] = set()
    links: list[tuple[str, str]] = []
    for m in _TOKEN.finditer(text):
        target, _, label = m.group(1).partition("|")
        if target.startswith("@"):
            users.add(target[1:])
        elif target.startswith("!subteam^"):
            groups.add(target.removeprefix("!subteam^"))
        elif target.startswith("!"):
            name = target[1:]
            if name in ("here", "channel", "everyone", "group"):
                broadcasts.add("channel" if name == "group" else name)
        elif not target.startswith("#"):
            links.append((_unescape(target), _unescape(label)))
    return Notice(frozenset(users), frozenset(groups), frozenset(broadcasts), tuple(links))


def shown(text: str) -> str:
    """A mrkdwn string as its reader sees it: tokens as their labels, entities decoded."""

    def token(m: re.Match[str]) -> str:
        target, _, label = m.group(1).partition("|")
        if label:
            return _unescape(label)
        return _unescape(target.lstrip("@#!"))

    out, pos = [], 0
    for m in _TOKEN.finditer(text):
        out.append(_unescape(text[pos : m.start()]))
        out.append(token(m))
        pos = m.end()
    out.append(_unescape(text[pos:]))
    return "".join(out)


def mrkdwn_texts(value: Any) -> Iterable[str]:
    """Every mrkdwn text object's text in a block tree (plain_text is never parsed)."""
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
            yield value["text"]
        for v in value.values():
            yield from mrkdwn_texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from mrkdwn_texts(v)

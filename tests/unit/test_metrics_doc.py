"""docs/metrics.md lists exactly the metrics the app registers, with their types and labels:
the app is wired as `python -m bot` wires it (bot/server.py `build`, then the front door of
bot/core/guard.py), and its registry is compared with the document's tables."""

from __future__ import annotations

import re
from pathlib import Path

import fakeredis

from bot.core import guard
from bot.core.config import IncidentConfig, Settings
from bot.server import build

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
ROW = re.compile(r"^\| `(?P<name>[a-z_:]+)` \| (?P<type>\w+) \| (?P<labels>[^|]*) \|", re.M)

Described = dict[str, tuple[str, tuple[str, ...]]]  # name -> (type, labels)


def documented(text: str) -> Described:
    return {
        m["name"]: (m["type"], tuple(re.findall(r"`(\w+)`", m["labels"])))
        for m in ROW.finditer(text)
    }


async def registered() -> Described:
    settings = Settings(slack_bot_token="xoxb-test", slack_signing_secret="test")
    bot = build(settings, IncidentConfig(), redis=fakeredis.FakeAsyncRedis())
    registry = bot.services.metrics.registry
    guard.runner(bot.web, settings, registry=registry)  # the front door registers its own
    found: Described = {}
    for family in registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        collector = registry._names_to_collectors[name]  # type: ignore[attr-defined]
        found[name] = (family.type, tuple(collector._labelnames))
    return found


async def test_every_registered_metric_is_documented_and_nothing_else() -> None:
    app, doc = await registered(), documented(DOC.read_text())
    assert len(app) > 20  # the registry was really found
    assert sorted(set(app) - set(doc)) == [], "registered, missing from docs/metrics.md"
    assert sorted(set(doc) - set(app)) == [], "in docs/metrics.md, not registered"
    assert {n: doc[n] for n in app} == app  # type and labels, in order


async def test_every_metric_has_the_application_prefix() -> None:
    assert [n for n in await registered() if not n.startswith("incident_bot_")] == []


def test_the_table_reader_reads_a_row_with_and_without_labels() -> None:
    text = (
        "| `incident_bot_x_total` | counter | `a`, `b` | Xs. |\n"
        "| `incident_bot_y` | gauge | — | Y. |\n"
    )
    assert documented(text) == {
        "incident_bot_x_total": ("counter", ("a", "b")),
        "incident_bot_y": ("gauge", ()),
    }

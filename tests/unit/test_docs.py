"""What the README and docs/*.md name exists: every `python -m bot <command>` is a command
of the CLI, every `/incident <verb>` a registered verb, every environment variable a field
of `Settings`, every repository path a file or folder of this checkout, every route one the
app serves, and every relative link (and its #anchor) a page and heading."""

from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path

import pytest

import handlers
from bot.cli import _parser
from bot.core.config import Settings
from handlers.verbs import Verbs

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Named here, made by another branch under way (metrics renamed with docs/metrics.md;
# LOG_FORMAT=json): drop each from this set when it lands.
# What a repository path starts with: the checkout's own top-level entries.
TOP = {p.name for p in ROOT.iterdir() if not p.name.startswith(".git")} - {".venv"}
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
BOT_COMMAND = re.compile(r"-m\s+bot(\.[\w.]+)?(?:(?:[ \t]+|\n(?!```))([a-z][\w-]*))?")
VERB = re.compile(r"/incident\s+([a-z]+)")
ENV = re.compile(r"\$?\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b")
# Upper-case words with an underscore that are not environment variables of the bot.
NOT_ENV = {"RLIMIT_NOFILE"}


def prose(text: str) -> str:
    """The text outside fenced code blocks."""
    return FENCE.sub("", text)


def spans(text: str) -> list[str]:
    return SPAN.findall(prose(text))


@pytest.fixture(scope="module", params=PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def page(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    return path


def test_the_pages_are_there() -> None:
    names = {p.name for p in PAGES}
    assert {"README.md", "configuration.md", "operations.md", "development.md"} <= names
    assert {"architecture.md", "runbooks.md", "alerts.md", "paging.md", "procedure.md"} <= names


def test_every_python_m_bot_command_exists(page: Path) -> None:
    parser = _parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    commands = set(sub.choices)
    text = page.read_text()
    found = BOT_COMMAND.findall(text)
    for module, command in found:
        if module:
            assert importlib.util.find_spec(f"bot{module}") is not None, f"no module bot{module}"
        elif command:
            assert command in commands, f"{page.name}: `python -m bot {command}`: no such command"


def test_every_incident_verb_exists(page: Path) -> None:
    verbs = Verbs.collect(handlers.MODULES)
    for name in VERB.findall(page.read_text()):
        assert verbs.get(name) is not None, f"{page.name}: /incident {name}: no such verb"


def test_every_environment_variable_is_a_setting(page: Path) -> None:
    settings = {name.upper() for name in Settings.model_fields}
    text = page.read_text()
    named = {m for s in [*spans(text), *FENCE.findall(text)] for m in ENV.findall(s)}
    unknown = named - settings - NOT_ENV
    assert not unknown, f"{page.name} names variables Settings does not read: {unknown}"


def repository_path(span: str) -> str | None:
    """A span that names a path of this repository (its first part is a top-level entry)."""
    if re.search(r"[\s<>{}=:$]", span) or span.startswith(("/", "-")):
        return None
    path = span.rstrip("/")
    if path.split("/")[0] not in TOP or not re.fullmatch(r"[\w.*/-]+", path):
        return None
    return path


def generated(path: str) -> bool:
    """A path under a folder git ignores (a test run's artifacts): named, not committed."""
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    folders = [line.strip().rstrip("/") for line in ignored if line.strip().endswith("/")]
    return any(path.startswith(f"{folder}/") for folder in folders)


def test_every_repository_path_exists(page: Path) -> None:
    named = {p for s in spans(page.read_text()) if (p := repository_path(s))}
    missing = {p for p in named if not list(ROOT.glob(p)) and not generated(p)}
    assert not missing, f"{page.name} names paths that are not in the repository: {missing}"


def test_every_route_is_served(page: Path) -> None:
    server = (ROOT / "bot" / "server.py").read_text()
    for span in spans(page.read_text()):
        route = re.fullmatch(
            r"(?:GET |POST )?(/(?:slack|webhooks|alerts|healthz|readyz|metrics)\S*)", span
        )
        if route:
            assert f'"{route.group(1)}"' in server, f"{page.name}: {span}: not a route"


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of a page's headings."""
    heads = re.findall(r"^#+ (.+)$", prose(path.read_text()), re.M)
    return {re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", h.lower())) for h in heads}


def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        assert path.exists(), f"{page.name}: link to {target}: no such file"
        if anchor and path.suffix == ".md":
            assert anchor in anchors(path), f"{page.name}: link to {target}: no such heading"


def test_the_checker_catches_what_is_not_there(tmp_path: Path) -> None:
    """The patterns above find what they must (so a pass means something)."""
    text = "run `python -m bot check-everything` and `/incident dance`, set `REDIS_PASSWORD`"
    assert BOT_COMMAND.findall(text) == [("", "check-everything")]
    assert BOT_COMMAND.findall("py=$(python3 -m bot.nothing)") == [(".nothing", "")]
    assert VERB.findall(text) == ["dance"]
    assert ENV.findall(text) == ["REDIS_PASSWORD"]
    assert repository_path("bot/core/nothing.py") == "bot/core/nothing.py"
    assert repository_path("incident.yaml") is None  # a file of yours, not of this repository

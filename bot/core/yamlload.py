"""YAML files into pydantic models, one precise line a problem: `file:line: key: problem`.

The one loader of the team's files: the configuration (bot/core/config.py), runbooks
(bot/runbooks/library.py) and drill scenarios (bot/drills/scenarios.py). It reads the
file, reports a YAML syntax error with its line and column, checks that the top level is a
mapping, validates it, and turns every validation error into one line that names the
file, the line the key is on, the key path (`escalation.matrix.SEV1[0].notify[1]`) and
what is wrong.

Folders of such files (runbooks, drill scenarios) are read one way: `folders()`.

A check that looks at the whole document (a name used in one place and defined in
another) raises `problems([...])` from a model validator: each finding keeps its own key
path, and so its own line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

Loc = tuple[str | int, ...]
# What a whole-document check found: (key path, what is wrong)
Problem = tuple[Loc, str]
M = TypeVar("M", bound=BaseModel)


def key_path(loc: tuple[Any, ...]) -> str:
    """`escalation.matrix.SEV1[0].notify[1]`: the key path as a person reads it."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def problems(found: list[Problem]) -> PydanticCustomError:
    """The error a whole-document check raises: each problem at its own key path (the
    loader gives each its line); as a plain ValidationError it reads `key: problem; …`."""
    summary = "; ".join(f"{key_path(loc)}: {msg}" for loc, msg in found)
    return PydanticCustomError("problems", "{summary}", {"summary": summary, "problems": found})


def line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The line (1-based) of a key path in the document: the line of its last key, or of
    the list item it ends at; where the path leaves the document (a missing key), the
    line of the deepest node it reaches."""
    node = root
    key_line = None
    for key in loc:
        key_line = None
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == key), None)
            if found is None:
                break
            key_line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
    if key_line is not None:
        return key_line
    return node.start_mark.line + 1 if node is not None else None


def yaml_files(directory: Path) -> list[Path]:
    """A folder's YAML files (`*.yaml`, `*.yml`), in name order."""
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])


def folders(
    dirs: Iterable[Path], *, what: str, shipped: Path, errors: list[str]
) -> Iterator[tuple[list[Path], bool]]:
    """Each of `dirs` in turn: its YAML files, and whether it is the `shipped` folder (its
    files are written for the built-in names, not the configured ones). A folder that is
    not there is one problem in `errors`: `<folder>: <what> folder not found`."""
    for directory in dirs:
        if not directory.is_dir():
            errors.append(f"{directory}: {what} folder not found")
            continue
        yield yaml_files(directory), directory.resolve() == shipped.resolve()


def load(
    path: Path,
    model: type[M],
    *,
    what: str = "file",
    shape: str = "",
    named: bool = False,
    empty: bool = False,
    context: Mapping[str, Any] | None = None,
    describe: Callable[[Loc, dict[str, Any]], str] | None = None,
) -> tuple[M | None, list[str]]:
    """The file as a `model`, or None and one line a problem.

    `what` names the file in a read error (`config file`); `shape` hints what the
    top-level mapping holds (` (id:, title:, …)`); `named`: the document's `id` defaults
    to the file's name and must match it; `empty`: an empty file is an empty mapping
    (every default); `context` is pydantic's validation context; `describe` names a key
    path for people (default `key_path`)."""
    try:
        source = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [f"{path}: cannot read the {what} (not UTF-8 text: byte {exc.start})"]
    except OSError as exc:
        return None, [f"{path}: cannot read the {what} ({exc.strerror or exc})"]
    try:
        data = yaml.safe_load(source)
        root = yaml.compose(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        return None, [f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}"]
    if data is None and empty:
        data = {}
    if not isinstance(data, dict):
        return None, [f"{path}: the top level must be a mapping{shape}"]
    if named:
        data.setdefault("id", path.stem)
        if data["id"] != path.stem:
            return None, [f"{path}: id {data['id']!r} does not match the file name ({path.stem})"]
    try:
        return model.model_validate(data, context=context), []
    except ValidationError as exc:
        return None, _lines(path, exc, root, data, describe)


def _lines(
    path: Path,
    exc: ValidationError,
    root: yaml.Node | None,
    data: dict[str, Any],
    describe: Callable[[Loc, dict[str, Any]], str] | None,
) -> list[str]:
    found: list[Problem] = []
    for err in exc.errors():
        loc: Loc = tuple(err["loc"])
        inner = (err.get("ctx") or {}).get("problems")
        if inner:  # a whole-document check: each problem at its own path
            found += [((*loc, *where), msg) for where, msg in inner]
            continue
        msg = err["msg"].removeprefix("Value error, ")
        found.append((loc, "unknown key (a typo?)" if err["type"] == "extra_forbidden" else msg))
    lines = []
    for loc, msg in found:
        line = line_of(root, loc)
        key = describe(loc, data) if describe else key_path(loc)
        lines.append(": ".join(p for p in (f"{path}:{line}" if line else str(path), key, msg) if p))
    return lines

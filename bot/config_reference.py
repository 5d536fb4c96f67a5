"""The configuration reference, docs/configuration.md, made from the models themselves
(`python -m bot config-reference`): every environment variable (`Settings`) and every key
of the procedure file (`IncidentConfig` and its sections) with its type, its default and
its meaning (the field's `description`). Defaults are written as YAML that validates when
copied; tests/unit/test_config_reference.py fails when the checked-in file drifts.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from bot.core.config import IncidentConfig, RateLimit, Settings

COMMAND = "python -m bot config-reference > docs/configuration.md"
# Keys the full defaults document leaves out (commented): their default is valid only
# with a matching setting elsewhere (a security role among `roles:`).
IMPLICIT = {("private", "role"): "only with that role among roles:"}
# What a named validator (BeforeValidator) makes of a plain string.
VALIDATED = {
    "parse_duration": "duration",
    "parse_delay": "duration (`0` allowed)",
    "escalation_target": "target",
    "destination": "destination",
    "principal": "principal",
}
# Map keys that are severity names.
SEVERITY_KEYED = {("escalation", "matrix"), ("stakeholders",)}

INTRO = """\
# Configuration reference

<!-- Generated from bot/core/config.py by `{command}`; do not edit by hand. -->

The bot reads two things: **environment variables** (tokens, addresses, limits of the
process) and the **procedure file**, a YAML file named by `INCIDENT_CONFIG` (your roles,
severities, escalation, alerts, permissions). Every key of the file is optional; an absent
file and an empty one mean the built-in defaults below. `python -m bot check-config FILE`
validates a file exactly as start-up does and prints the procedure it describes; each
problem is one line, `file:line: key: what is wrong`.

Written forms: a **duration** is `30s`, `15m`, `2h`, `1d`, `1w`, or parts largest first
(`1h 30m`, `3 days`); a bare number is seconds. A **rate** is `N/duration` (`10/1m`: bursts
of 10, then one every 6 s). A **principal** is `anyone`, `channel_members`, `roles`, a user
group ID (`S…`) or a user ID (`U…`). A **target** (escalation `notify:`) is a user (`U…`),
user group (`S…`), channel (`C…` or `#name`) or a role of the incident by name; a
**destination** (stakeholder `channel:`) is a channel name or ID, a user group or a user.

## Contents

- [Environment variables](#environment-variables)
- [All defaults, as a file](#all-defaults-as-a-file)
- [Keys of the procedure file](#keys-of-the-procedure-file)
{sections}
"""


# -- values as YAML ---------------------------------------------------------------------------


def duration_text(value: timedelta) -> str | float:
    """`15m`, `1h 30m`, `1d`: the compact written form (a fraction of a second: seconds)."""
    seconds = value.total_seconds()
    if seconds != int(seconds):
        return seconds
    left, parts = int(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts) or "0s"


def plain(value: Any) -> Any:
    """A value as the YAML a person would write for it."""
    if isinstance(value, RateLimit):
        return f"{value.count}/{duration_text(value.per)}"
    if isinstance(value, BaseModel):
        return {
            info.alias or name: plain(getattr(value, name))
            for name, info in type(value).model_fields.items()
        }
    if isinstance(value, timedelta):
        return duration_text(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def inline(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False)
    return text.removesuffix("\n...\n").strip()


def defaults_document() -> str:
    """The whole procedure file with every default written out (valid as it is)."""
    data = plain(IncidentConfig())
    for section, key in IMPLICIT:
        data[section].pop(key)
    text = yaml.safe_dump(data, default_flow_style=None, width=88, sort_keys=False)
    for (section, key), why in IMPLICIT.items():
        default = inline(plain(getattr(getattr(IncidentConfig(), section), key)))
        assert f"\n{section}:\n" in text, f"{section} is no longer written as a block"
        text = text.replace(f"\n{section}:\n", f"\n{section}:\n  # {key}: {default}  ({why})\n")
    return text


def default_cell(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel) and not isinstance(value, RateLimit):
        return "its keys' defaults"
    text = inline(plain(value))
    if len(text) > 48:
        return "[see the file](#all-defaults-as-a-file)"
    return f"`{text}`"


# -- types ------------------------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    return re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", heading.lower()))


def type_text(annotation: Any, metadata: list[Any], links: dict[type, str]) -> str:
    """What a field holds, in words: `list of duration`, `integer > 0`, a link to a section."""
    named = [VALIDATED.get(getattr(getattr(m, "func", None), "__name__", "")) for m in metadata]
    words = next((n for n in named if n), None) or _type_words(annotation, links)
    for rule in metadata:
        if isinstance(rule, annotated_types.Gt):
            words += f" > {rule.gt}"
        elif isinstance(rule, annotated_types.Ge):
            words += f" ≥ {rule.ge}"
        elif isinstance(rule, annotated_types.Le):
            words += f" ≤ {rule.le}"
        elif isinstance(rule, annotated_types.MinLen):
            words += f" (at least {rule.min_length})"
    return words


def _type_words(annotation: Any, links: dict[type, str]) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        for extra in args[1:]:
            name = getattr(getattr(extra, "func", None), "__name__", "")
            if name in VALIDATED:
                return VALIDATED[name]
        return _type_words(args[0], links)
    if origin in (Union, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        text = " or ".join(_type_words(a, links) for a in kinds)
        return f"{text} or null" if len(kinds) < len(args) else text
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin is list:
        return f"list of {_type_words(args[0], links)}"
    if origin is dict:
        return f"map of {_type_words(args[0], links)} to {_type_words(args[1], links)}"
    if annotation is RateLimit:
        return "rate"
    if isinstance(annotation, type) and annotation in links:
        return links[annotation]
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    names |= {Path: "path", timedelta: "duration"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _models(annotation: Any, path: tuple[str, ...]) -> Iterator[tuple[type[BaseModel], str]]:
    """The section models a field holds, each with the suffix of its title: `[]` for the
    items of a list, `.<key>` for the values of a map."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation is not RateLimit:
            yield annotation, ""
        return
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is list:
        for model, suffix in _models(args[0], path):
            yield model, "[]" + suffix
    elif origin is dict:
        key = ".<severity>" if path in SEVERITY_KEYED else ".<key>"
        for model, suffix in _models(args[1], path):
            yield model, key + suffix
    else:
        for arg in args:
            yield from _models(arg, path)


# -- the page ---------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _table(header: str, rows: Sequence[tuple[str, ...]]) -> list[str]:
    columns = header.split(" | ")
    return [
        f"| {header} |",
        "| " + " | ".join("---" for _ in columns) + " |",
        *("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows),
    ]


def _sections() -> list[tuple[str, type[BaseModel], tuple[str, ...]]]:
    """(title, model, key path) of the file's top level and each nested section, in order."""
    found: list[tuple[str, type[BaseModel], tuple[str, ...]]] = []
    queue: list[tuple[type[BaseModel], tuple[str, ...], str]] = [(IncidentConfig, (), "")]
    while queue:
        model, path, title = queue.pop(0)
        found.append((f"`{title}`" if title else "Keys of the procedure file", model, path))
        for name, info in model.model_fields.items():
            where = (*path, info.alias or name)
            for sub, suffix in _models(info.annotation, where):
                queue.append((sub, where, f"{title}.{where[-1]}{suffix}".lstrip(".")))
    return found


def reference_markdown() -> str:
    sections = _sections()
    links = {model: f"[{t}](#{slug(t)})" for t, model, path in sections if path}
    out = [
        INTRO.format(
            command=COMMAND,
            sections="\n".join(f"  - [{t}](#{slug(t)})" for t, _, path in sections if path),
        ),
        "## Environment variables",
        "",
        "Blank values (`SLACK_SIGNING_SECRET=`, spaces) of secrets and tokens count as unset.",
        "",
    ]
    env_rows = []
    for name, info in Settings.model_fields.items():
        default = info.get_default(call_default_factory=True)
        if isinstance(default, float) and default.is_integer():
            default = int(default)  # as it is written: PORT=3000, ONCALL_CACHE_TTL=300
        shown = "unset" if default is None else f"`{default}`"
        kind = type_text(info.annotation, info.metadata, links).removesuffix(" or null")
        env_rows.append((f"`{name.upper()}`", kind, shown, info.description or ""))
    out += _table("variable | type | default | meaning", env_rows)
    out += [
        "",
        "## All defaults, as a file",
        "",
        "Copy what you change; every key left out keeps its default.",
        "",
        "```yaml",
        defaults_document().rstrip(),
        "```",
    ]
    for title, model, path in sections:
        out += ["", f"## {title}" if not path else f"### {title}", ""]
        if path and model.__doc__:
            out += [" ".join(model.__doc__.split()), ""]
        rows = []
        for name, info in model.model_fields.items():
            key = info.alias or name
            kind = type_text(info.annotation, info.metadata, links)
            if (*path, key) in SEVERITY_KEYED:
                kind = kind.replace("map of string", "map of severity", 1)
            rows.append((f"`{key}`", kind, default_cell(info), info.description or ""))
        out += _table("key | type | default | meaning", rows)
    return "\n".join(out) + "\n"

"""docs/configuration.md is made from the models (`python -m bot config-reference`): it
must be what the models say now, and every default it shows must validate when copied."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from bot.cli import main
from bot.config_reference import COMMAND, IMPLICIT, defaults_document, reference_markdown
from bot.core.config import IncidentConfig, Settings, load_config

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "configuration.md"


def test_the_checked_in_reference_is_what_the_models_say() -> None:
    assert REFERENCE.read_text() == reference_markdown(), (
        f"docs/configuration.md is out of date with bot/core/config*.py: run `{COMMAND}`"
    )


def test_the_command_prints_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config-reference"]) == 0
    assert capsys.readouterr().out == reference_markdown()


def test_the_defaults_document_is_a_valid_file_of_exactly_the_defaults(tmp_path: Path) -> None:
    file = tmp_path / "incident.yaml"
    file.write_text(defaults_document())
    assert load_config(file) == IncidentConfig()
    assert "rules:\n  - {alertname: ServiceDown" in defaults_document()  # written out, all ten


def test_every_key_and_variable_has_its_meaning() -> None:
    missing = []
    seen: set[type[BaseModel]] = set()
    todo: list[type[BaseModel]] = [IncidentConfig, Settings]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            if not info.description:
                missing.append(f"{model.__name__}.{name}")
            todo += _nested(info.annotation)
    assert not missing, f"give these fields a description= (their reference line): {missing}"


def _nested(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _nested(arg)]


def _shown_defaults() -> list[tuple[tuple[str, ...], str, str]]:
    """(section path, key, default as shown) of every key of a section (not of list or map
    items, which need their required keys beside them) whose default is shown as YAML."""
    rows: list[tuple[tuple[str, ...], str, str]] = []
    path: tuple[str, ...] | None = None
    for line in reference_markdown().splitlines():
        if line.startswith("## Keys of the procedure file"):
            path = ()
        elif line.startswith("### "):
            title = line.removeprefix("### ").strip("`")
            path = None if re.search(r"[\[<]", title) else tuple(title.split("."))
        elif path is not None and (row := re.match(r"\| `([\w]+)` \| [^|]+ \| `(.+?)` \|", line)):
            rows.append((path, row.group(1), row.group(2)))
    return rows


def test_every_default_shown_validates_when_copied() -> None:
    rows = _shown_defaults()
    assert len(rows) > 50  # the sections' keys were found
    for path, key, shown in rows:
        if (*path, key) in IMPLICIT:
            continue
        data: dict[str, Any] = {key: yaml.safe_load(shown)}
        for part in reversed(path):
            data = {part: data}
        config = IncidentConfig.model_validate(data)
        section: Any = config
        for part in path:
            section = getattr(section, part)
        field = next(n for n, i in type(section).model_fields.items() if (i.alias or n) == key)
        default = type(section).model_fields[field].get_default(call_default_factory=True)
        assert getattr(section, field) == default, f"{'.'.join((*path, key))}: {shown}"

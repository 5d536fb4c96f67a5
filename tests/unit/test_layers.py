"""What import-linter cannot see: handlers reach the store only through a feature, the
parts handed to them are all there from the start, and no module outgrows a read."""

from __future__ import annotations

import ast
import dataclasses
import typing
from pathlib import Path

import pytest

from bot.services import Services

ROOT = Path(__file__).parents[2]
HANDLERS = ROOT / "handlers"
MAX_LINES = 600  # a module longer than this is split along its seams (a feature a package)
PACKAGES = ("bot", "handlers", "blocks")


def store_calls(path: Path) -> list[str]:
    """`<anything>.store.<method>` in `path`: a handler calling the store itself."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        f"{path.name}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "store"
    ]


def test_handlers_call_no_store_method() -> None:
    found = [hit for path in sorted(HANDLERS.glob("*.py")) for hit in store_calls(path)]
    assert found == []


def test_the_check_sees_a_store_call(tmp_path: Path) -> None:
    handler = tmp_path / "h.py"
    handler.write_text("async def f(svc):\n    return await svc.store.get('x')\n")
    assert store_calls(handler) == ["h.py:2"]


def test_services_are_frozen_and_only_pagerduty_may_be_absent() -> None:
    hints = typing.get_type_hints(Services)
    optional = [name for name, hint in hints.items() if type(None) in typing.get_args(hint)]
    assert optional == ["pagerduty"]
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(Services))
    with pytest.raises(dataclasses.FrozenInstanceError):
        Services.__setattr__(object.__new__(Services), "pager", None)


def long_modules(root: Path) -> list[str]:
    """The Python files of PACKAGES under `root`, at any depth, longer than MAX_LINES."""
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            lines = len(path.read_text().splitlines())
            if lines > MAX_LINES:
                found.append(f"{path.relative_to(root)}: {lines} lines")
    return found


def test_no_module_is_longer_than_six_hundred_lines() -> None:
    assert long_modules(ROOT) == []


def test_the_check_sees_a_long_module_in_a_package(tmp_path: Path) -> None:
    (tmp_path / "bot" / "feature").mkdir(parents=True)
    (tmp_path / "bot" / "feature" / "__init__.py").write_text("x = 1\n" * (MAX_LINES + 1))
    (tmp_path / "bot" / "short.py").write_text("x = 1\n" * MAX_LINES)
    assert long_modules(tmp_path) == [f"bot/feature/__init__.py: {MAX_LINES + 1} lines"]

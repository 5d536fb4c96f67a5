"""What import-linter cannot see: handlers reach the store only through a feature, and the
parts handed to them are all there from the start."""

from __future__ import annotations

import ast
import dataclasses
import typing
from pathlib import Path

import pytest

from bot.services import Services

HANDLERS = Path(__file__).parents[2] / "handlers"


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

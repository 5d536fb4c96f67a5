"""The store's one naming module (bot/core/store/keys.py) and its Lua scripts: the names
stay the keys they were, none is spelt twice, and every script file is shipped and used."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import lupa

from bot.core.store import SANDBOX_PREFIX, Keys, Lease, Once, Rate, scripts

with lupa.allow_lua_module_loading():  # Redis's Lua, the runtime fakeredis loads too
    lua51 = importlib.import_module("lupa.lua51")

ROOT = Path(__file__).resolve().parents[2]
LUA = ROOT / "bot" / "core" / "store" / "lua"


def test_names_are_the_keys_they_always_were() -> None:
    k = Keys()
    assert k.once(Once.VIEW, "V1") == "ir:once:view:V1"
    assert k.once(Once.SLACK_REQUEST, "sig") == "ir:once:slack-request:sig"
    assert k.lease(Lease.CONSISTENCY) == "ir:lease:consistency"
    assert k.lease(Lease.CHANNEL, "2026-12-02-1") == "ir:lease:channel:2026-12-02-1"
    assert k.lease(Lease.RUNBOOK, "r1") == "ir:lease:runbook:r1"
    assert k.rate(Rate.DECLARE, "U1") == "ir:rate:declare:U1"
    assert k.alert_group_state("g") == "ir:alertgroup:g:state"
    assert k.alert_due("rule") == "ir:alerts:due" and k.alert_due("page") == "ir:alerts:due:page"
    assert Keys(SANDBOX_PREFIX).lease(Lease.ALERT_GROUP, "g") == "sandbox:ir:lease:alertgroup:g"


def test_no_name_is_spelt_twice() -> None:
    for names in (Once, Lease, Rate):
        values = [m.value for m in names]
        assert len(values) == len(set(values)), names


def test_no_module_outside_the_store_spells_a_scope_or_a_lease() -> None:
    """A once-marker, lease or rate is named by the enum, never by a string literal."""
    call = re.compile(
        r"\.(claim_once|once_value|set_once_value|release_once|held|take_rate)\(\s*f?[\"']"
        r"|scope=f?[\"']"
    )
    found = [
        f"{path.relative_to(ROOT)}: {m.group(0)}"
        for top in ("bot", "handlers", "blocks")
        for path in (ROOT / top).rglob("*.py")
        for m in call.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not found


def test_every_lua_file_is_loaded_and_shipped() -> None:
    loaded = {v for k, v in vars(scripts).items() if k.isupper() and isinstance(v, str)}
    for path in LUA.glob("*.lua"):
        body = path.read_text(encoding="utf-8")
        assert any(body in script for script in loaded), f"{path.name} is never loaded"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = pyproject["tool"]["setuptools"]["package-data"]["bot"]
    assert "core/store/lua/*.lua" in shipped


def test_every_script_compiles_with_the_functions_it_calls() -> None:
    """A syntax error, or a fragment (lib_*.lua) left out of a joined script, fails here
    rather than on the first alert storm."""
    lua = lua51.LuaRuntime()
    fragments = {"dropped", "forget", "prune"}
    for name, body in vars(scripts).items():
        if name.isupper() and isinstance(body, str):
            lua.compile(body)
            for fn in fragments:
                if re.search(rf"(?<![\w.]){fn}\(", body):
                    assert f"local function {fn}(" in body, (name, fn)

"""`manifest.yaml` against Slack's own app manifest schema (tests/data/README.md says
where the vendored schema comes from), and what CONTRACT.md says the manifest declares:
the three shortcuts, the App Home tab with `app_home_opened`, every event the bot
listens to."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

import blocks.shortcuts as ui
from bot.doctor.manifest import manifest_path

ROOT = Path(__file__).parents[2]
SCHEMA = ROOT / "tests" / "data" / "slack-manifest.schema.json"
# listened to only to acknowledge them (handlers/timeline.py): not subscribed
IGNORED_EVENTS = {"pin_removed", "reaction_removed"}


def manifest() -> dict[str, Any]:
    return yaml.safe_load(manifest_path().read_text())


def problems(data: dict[str, Any]) -> list[str]:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in validator.iter_errors(data)
    ]


def test_the_manifest_is_valid_by_slacks_schema() -> None:
    assert manifest_path() == ROOT / "manifest.yaml"
    assert problems(manifest()) == []


@pytest.mark.parametrize(
    "break_it",
    [
        lambda m: m["features"]["shortcuts"][0].update(type="channel"),
        lambda m: m["features"]["shortcuts"][1].update(name="Add this message to an incident"),
        lambda m: m["features"]["app_home"].update(home_tab=True),
        lambda m: m["settings"]["event_subscriptions"]["bot_events"].append("app_home_opened"),
        lambda m: m["display_information"].pop("name"),
    ],
    ids=["shortcut type", "name over 24", "unknown key", "repeated event", "no name"],
)
def test_the_schema_refuses_a_broken_manifest(break_it: Any) -> None:
    """The vendored schema is the strict one: each of these is refused."""
    broken = copy.deepcopy(manifest())
    break_it(broken)
    assert problems(broken) != []


def test_it_declares_the_shortcuts_by_their_callback_ids() -> None:
    shortcuts = manifest()["features"]["shortcuts"]
    found = {(s["type"], s["callback_id"]): s["name"] for s in shortcuts}
    assert found == {
        ("message", ui.DECLARE_FROM_MESSAGE): "Declare incident",
        ("message", ui.ADD_TO_TIMELINE): "Add to incident timeline",
        ("global", ui.DECLARE): "Declare incident",
    }


def test_it_has_the_home_tab_and_hears_it_opened() -> None:
    data = manifest()
    assert data["features"]["app_home"]["home_tab_enabled"] is True
    assert "app_home_opened" in data["settings"]["event_subscriptions"]["bot_events"]


def test_it_subscribes_every_event_the_bot_listens_to() -> None:
    listened = {
        name
        for path in (ROOT / "handlers").glob("*.py")
        for name in re.findall(r'@app\.event\("([a-z_]+)"\)', path.read_text())
    }
    assert {"app_home_opened", "message", "pin_added"} <= listened  # the scan finds them
    subscribed = set(manifest()["settings"]["event_subscriptions"]["bot_events"])
    # `message` comes as message.<channel type>: public and private channels
    heard = {e.split(".")[0] for e in subscribed}
    assert listened - IGNORED_EVENTS <= heard
    assert {"message.channels", "message.groups"} <= subscribed
    assert not IGNORED_EVENTS & subscribed

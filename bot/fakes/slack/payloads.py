"""Shaping interaction payloads as Slack does: finding the element a click is on, the
action Slack reports for it, and a view's state values (what each input holds)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def interactive_elements(blocks: list[dict[str, Any]]) -> Iterable[tuple[dict, dict]]:
    for block in blocks:
        if block.get("type") == "actions":
            for el in block.get("elements") or []:
                yield block, el
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                yield block, block[key]


def _all_options(element: dict[str, Any]) -> list[dict[str, Any]]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return options


def _option_for(element: dict[str, Any], value: Any) -> dict[str, Any]:
    for option in _all_options(element):
        if option.get("value") == value:
            return option
    if element.get("type", "").startswith(("external", "multi_external")):
        return {"text": {"type": "plain_text", "text": str(value)}, "value": value}
    raise ValueError(f"element {element.get('action_id')} has no option with value {value!r}")


def find_element(
    blocks: list[dict[str, Any]], action_id: str, value: str | None, block_id: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    for block, el in interactive_elements(blocks):
        if el.get("action_id") != action_id:
            continue
        if block_id is not None and block.get("block_id") != block_id:
            continue
        if value is not None and el.get("type") == "button" and el.get("value") != value:
            continue
        offered = _all_options(el)
        if value is not None and offered and all(o.get("value") != value for o in offered):
            continue  # same action_id in another block (one a block): the one offering value
        return block, el
    raise ValueError(f"no element with action_id {action_id!r} (value {value!r}) in the message")


_SELECTED_KEY = {
    "users_select": "selected_user",
    "multi_users_select": "selected_users",
    "conversations_select": "selected_conversation",
    "multi_conversations_select": "selected_conversations",
    "channels_select": "selected_channel",
    "multi_channels_select": "selected_channels",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "datetimepicker": "selected_date_time",
}


_TEXT_INPUTS = {
    "plain_text_input",
    "email_text_input",
    "url_text_input",
    "number_input",
    "rich_text_input",
}


def _shaped_value(element: dict[str, Any], value: Any) -> dict[str, Any]:
    """The state/action shape Slack uses for element's type holding value (None: empty)."""
    kind = element.get("type", "")
    out: dict[str, Any] = {"type": kind}
    if kind in _TEXT_INPUTS:
        out["value"] = None if value is None else str(value)
    elif kind in _SELECTED_KEY:
        key = _SELECTED_KEY[kind]
        out[key] = list(value or []) if kind.startswith("multi_") else value
    elif kind in ("multi_static_select", "multi_external_select", "checkboxes"):
        out["selected_options"] = [_option_for(element, v) for v in value or []]
    elif kind in ("static_select", "external_select", "radio_buttons", "overflow"):
        out["selected_option"] = None if value is None else _option_for(element, value)
    else:
        raise ValueError(f"cannot fill an element of type {kind!r}")
    return out


def action_payload(
    block: dict[str, Any],
    element: dict[str, Any],
    value: str | None,
    *,
    selected: list[str] | None = None,
) -> dict[str, Any]:
    """The action Slack reports for a click on `element`: a button, the option `value`
    picked, or on checkboxes the box `value` toggled (or the whole `selected` selection
    a client holds), reported as the selection after the click."""
    base = {"action_id": element["action_id"], "block_id": block["block_id"]}
    if element.get("type") == "button":
        action = {**base, "type": "button", "text": element.get("text")}
        if element.get("value") is not None:
            action["value"] = element["value"]
        if element.get("style"):
            action["style"] = element["style"]
        return action
    if element.get("type") == "checkboxes" and (value is not None or selected is not None):
        # a tick toggles one box; Slack sends the element's whole selection after it
        shown = _initial(element) or []
        now = selected if selected is not None else (set(shown) ^ {value})
        if value is not None:
            _option_for(element, value)  # it must be one of the boxes
        boxes = [o["value"] for o in _all_options(element) if o["value"] in now]
        return {**base, **_shaped_value(element, boxes)}
    if value is None:
        raise ValueError(f"pick a value for the {element.get('type')} {element['action_id']!r}")
    picked: Any = [value] if element.get("type", "").startswith("multi_") else value
    return {**base, **_shaped_value(element, picked)}


def find_option(
    blocks: list[dict[str, Any]], value: str, kinds: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The element of one of `kinds` (checkboxes, overflow, ...) offering an option `value`."""
    for block, el in interactive_elements(blocks):
        if el.get("type") in kinds and any(o.get("value") == value for o in _all_options(el)):
            return block, el
    raise ValueError(f"no {' or '.join(kinds)} with an option {value!r} in the message")


def message_state(blocks: list[dict[str, Any]], action: dict[str, Any]) -> dict[str, Any]:
    """A message's state.values in block_actions: what each stateful element holds (as
    shown), the clicked one as it is after the click."""
    state: dict[str, dict[str, Any]] = {}
    for block, el in interactive_elements(blocks):
        kind = el.get("type")
        if kind not in ("checkboxes", "radio_buttons", "static_select", "multi_static_select"):
            continue
        if (block.get("block_id"), el.get("action_id")) == (
            action["block_id"],
            action["action_id"],
        ):
            shaped = {
                k: v for k, v in action.items() if k not in ("action_id", "block_id", "action_ts")
            }
        else:
            shaped = _shaped_value(el, _initial(el))
        state.setdefault(block["block_id"], {})[el["action_id"]] = shaped
    return state


def _initial(el: dict[str, Any]) -> Any:
    """An element's pre-filled value, in the plain form submit_view takes."""
    if "initial_option" in el:
        return el["initial_option"].get("value")
    if "initial_options" in el:
        return [o.get("value") for o in el["initial_options"]]
    for key in (
        "initial_value",
        "initial_user",
        "initial_users",
        "initial_date",
        "initial_channel",
    ):
        if key in el:
            return el[key]
    return None


def state_values(
    view: dict[str, Any], values: dict[str, dict[str, Any]], *, submitting: bool = True
) -> dict[str, Any]:
    """view.state.values: every input of the view, filled from values (on submission,
    an empty required input is refused, as the Slack client refuses it)."""
    elements = {
        (block["block_id"], el["action_id"]): (block, el)
        for block, el in interactive_elements(view.get("blocks") or [])
        if el.get("type") not in ("button", "image")
    }
    for block_id, by_action in values.items():
        for action_id in by_action:
            if (block_id, action_id) not in elements:
                raise ValueError(f"view {view['id']} has no input {block_id}/{action_id}")
    state: dict[str, dict[str, Any]] = {}
    for (block_id, action_id), (block, el) in elements.items():
        given = values.get(block_id, {})
        if block.get("type") != "input" and action_id not in given:
            continue  # accessories appear in state only once touched
        # what the user left untouched keeps the element's initial value, as in Slack
        value = given[action_id] if action_id in given else _initial(el)
        empty = value is None or value == "" or value == []
        if submitting and block.get("type") == "input" and empty and not block.get("optional"):
            # the Slack client refuses to submit a modal with an empty required input
            raise ValueError(f"required input {block_id}/{action_id} left empty")
        state.setdefault(block_id, {})[action_id] = _shaped_value(el, value)
    return state

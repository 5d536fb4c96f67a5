"""Slack's Block Kit limits, checked in one place: the fake Slack refuses with them what
slack.com refuses (`invalid_blocks`, a view's `invalid_arguments`), and the tests run every
builder through them.

The limits are Slack's documented ones (docs.slack.dev, Block Kit reference: blocks, block
elements, composition objects, view objects); tests/unit/test_block_limits.py holds them
against slack_sdk.models, Slack's own Python models. A problem reads as Slack words it:
``[ERROR] <why> [json-pointer:/blocks/0/text/text]``. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

MESSAGE_BLOCK_LIMIT = 50  # blocks in a message
MODAL_BLOCK_LIMIT = 100  # blocks in a modal or Home tab view

BLOCK_TYPES = frozenset(
    {"section", "header", "context", "divider", "actions", "image", "input", "rich_text", "file"}
)
_OPTION_ELEMENTS = {
    "static_select": 100,
    "multi_static_select": 100,
    "overflow": 5,
    "checkboxes": 10,
    "radio_buttons": 10,
}
_OTHER_ELEMENTS = frozenset(
    {
        "users_select",
        "multi_users_select",
        "conversations_select",
        "multi_conversations_select",
        "channels_select",
        "multi_channels_select",
        "external_select",
        "multi_external_select",
        "datepicker",
        "timepicker",
        "datetimepicker",
        "plain_text_input",
        "email_text_input",
        "url_text_input",
        "number_input",
        "rich_text_input",
        "file_input",
    }
)


def _problem(reason: str, pointer: str) -> str:
    # Slack's own wording: "[ERROR] <why> [json-pointer:/blocks/0/text/text]"
    return f"[ERROR] {reason} [json-pointer:{pointer}]"


def _check_text(
    obj: Any,
    pointer: str,
    out: list[str],
    *,
    max_len: int,
    plain_only: bool = False,
    required: bool = True,
) -> None:
    if obj is None:
        if required:
            out.append(_problem("missing required field: text", pointer))
        return
    kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if not isinstance(obj, dict) or obj.get("type") not in kinds:
        out.append(_problem(f"must be a text object of type {' or '.join(kinds)}", pointer))
        return
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        out.append(_problem("must be more than 0 characters", f"{pointer}/text"))
    elif len(text) > max_len:
        out.append(_problem(f"must be less than {max_len + 1} characters", f"{pointer}/text"))


def _check_len(value: Any, limit: int, pointer: str, out: list[str]) -> None:
    if value is not None and (not isinstance(value, str) or len(value) > limit):
        out.append(_problem(f"must be a string of at most {limit} characters", pointer))


def _check_options(options: Any, limit: int, pointer: str, out: list[str]) -> None:
    if not isinstance(options, list):
        out.append(_problem("must be a list of options", pointer))
        return
    if len(options) > limit:
        out.append(_problem(f"no more than {limit} items allowed", pointer))
    for i, option in enumerate(options):
        if not isinstance(option, dict):
            out.append(_problem("must be an option object", f"{pointer}/{i}"))
            continue
        _check_text(option.get("text"), f"{pointer}/{i}/text", out, max_len=75)
        _check_len(option.get("value"), 150, f"{pointer}/{i}/value", out)


def _check_id(obj: dict[str, Any], key: str, pointer: str, seen: set[str], out: list[str]) -> None:
    """A block_id or action_id: at most 255 characters, unique among `seen`."""
    value = obj.get(key)
    if value is None:
        return
    if not isinstance(value, str) or len(value) > 255:
        out.append(_problem("must be at most 255 characters", f"{pointer}/{key}"))
    elif value in seen:
        out.append(_problem(f"duplicate {key}: {value}", f"{pointer}/{key}"))
    else:
        seen.add(value)


def _check_element(el: Any, pointer: str, out: list[str], action_ids: set[str]) -> None:
    if not isinstance(el, dict) or not isinstance(el.get("type"), str):
        out.append(_problem("must be an element object with a type", pointer))
        return
    kind = el["type"]
    _check_id(el, "action_id", pointer, action_ids, out)
    if kind == "button":
        _check_text(el.get("text"), f"{pointer}/text", out, max_len=75, plain_only=True)
        _check_len(el.get("value"), 2000, f"{pointer}/value", out)
        _check_len(el.get("url"), 3000, f"{pointer}/url", out)
        style = el.get("style")
        if style is not None and style not in ("primary", "danger"):
            out.append(_problem("must be one of: primary, danger", f"{pointer}/style"))
    elif kind in _OPTION_ELEMENTS:
        if "placeholder" in el:
            _check_text(el["placeholder"], f"{pointer}/placeholder", out, max_len=150)
        if "option_groups" in el and "options" not in el:
            groups = el["option_groups"]
            if not isinstance(groups, list) or len(groups) > 100:
                out.append(_problem("no more than 100 items allowed", f"{pointer}/option_groups"))
            else:
                for g, group in enumerate(groups):
                    opts = group.get("options") if isinstance(group, dict) else None
                    _check_options(opts, 100, f"{pointer}/option_groups/{g}/options", out)
        else:
            _check_options(el.get("options"), _OPTION_ELEMENTS[kind], f"{pointer}/options", out)
    elif kind == "image":
        if not el.get("image_url") and not el.get("slack_file"):
            out.append(_problem("missing required field: image_url", pointer))
        if not el.get("alt_text"):
            out.append(_problem("missing required field: alt_text", pointer))
    elif kind not in _OTHER_ELEMENTS:
        out.append(_problem(f"unsupported element type: {kind}", f"{pointer}/type"))


def _elements(block: dict[str, Any], most: int, p: str, out: list[str]) -> list[Any]:
    """A context or actions block's elements: 1 to `most` of them (else none to check)."""
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements or len(elements) > most:
        out.append(_problem(f"must have between 1 and {most} elements", f"{p}/elements"))
        return []
    return elements


def _check_block(block: dict[str, Any], p: str, out: list[str], action_ids: set[str]) -> None:
    kind = block["type"]
    if kind == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and not fields:
            out.append(_problem("must provide either text or fields", p))
        if text is not None:
            _check_text(text, f"{p}/text", out, max_len=3000)
        if fields is not None:
            if not isinstance(fields, list) or len(fields) > 10:
                out.append(_problem("no more than 10 items allowed", f"{p}/fields"))
            else:
                for i, f in enumerate(fields):
                    _check_text(f, f"{p}/fields/{i}", out, max_len=2000)
        if block.get("accessory") is not None:
            _check_element(block["accessory"], f"{p}/accessory", out, action_ids)
    elif kind == "header":
        _check_text(block.get("text"), f"{p}/text", out, max_len=150, plain_only=True)
    elif kind == "context":
        for i, el in enumerate(_elements(block, 10, p, out)):
            if isinstance(el, dict) and el.get("type") == "image":
                _check_element(el, f"{p}/elements/{i}", out, action_ids)
            else:
                _check_text(el, f"{p}/elements/{i}", out, max_len=3000)
    elif kind == "actions":
        for i, el in enumerate(_elements(block, 25, p, out)):
            _check_element(el, f"{p}/elements/{i}", out, action_ids)
    elif kind == "image":
        if not block.get("image_url") and not block.get("slack_file"):
            out.append(_problem("missing required field: image_url", p))
        _check_len(block.get("alt_text") or None, 2000, f"{p}/alt_text", out)
        if not block.get("alt_text"):
            out.append(_problem("missing required field: alt_text", p))
        if block.get("title") is not None:
            _check_text(block["title"], f"{p}/title", out, max_len=2000, plain_only=True)
    elif kind == "input":
        _check_text(block.get("label"), f"{p}/label", out, max_len=2000, plain_only=True)
        if block.get("element") is None:
            out.append(_problem("missing required field: element", p))
        else:
            _check_element(block["element"], f"{p}/element", out, action_ids)
        if block.get("hint") is not None:
            _check_text(block["hint"], f"{p}/hint", out, max_len=2000, plain_only=True)
    elif kind == "rich_text":
        if not isinstance(block.get("elements"), list):
            out.append(_problem("missing required field: elements", p))
    elif kind == "file" and (not block.get("external_id") or not block.get("source")):
        out.append(_problem("missing required field: external_id or source", p))


def block_problems(blocks: list[Any], *, limit: int, pointer: str = "/blocks") -> list[str]:
    """Every reason Slack would refuse these blocks, in Slack's message format (empty: fine)."""
    out: list[str] = []
    if len(blocks) > limit:
        out.append(_problem(f"no more than {limit} items allowed", pointer))
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        # Slack wants action_ids unique within their block (modals reuse "value" per input)
        action_ids: set[str] = set()
        p = f"{pointer}/{i}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            out.append(_problem("must be a block object with a type", p))
            continue
        if block["type"] not in BLOCK_TYPES:
            out.append(_problem(f"unsupported type: {block['type']}", f"{p}/type"))
            continue
        _check_id(block, "block_id", p, block_ids, out)
        _check_block(block, p, out, action_ids)
    return out


def view_problems(view: Any, *, kinds: tuple[str, ...] = ("modal", "home")) -> list[str]:
    """Every reason Slack would refuse this view: a modal (views.open/update/push,
    response_action) or a Home tab (views.publish: `kinds=("home",)`)."""
    if not isinstance(view, dict):
        return [_problem("must be a view object", "/view")]
    out: list[str] = []
    if view.get("type") not in kinds:
        out.append(_problem(f"must be one of: {', '.join(kinds)}", "/view/type"))
    if view.get("type") == "modal":
        _check_text(view.get("title"), "/view/title", out, max_len=24, plain_only=True)
    for key in ("submit", "close"):
        if view.get(key) is not None:
            _check_text(view[key], f"/view/{key}", out, max_len=24, plain_only=True)
    _check_len(view.get("callback_id"), 255, "/view/callback_id", out)
    _check_len(view.get("private_metadata"), 3000, "/view/private_metadata", out)
    _check_len(view.get("external_id"), 255, "/view/external_id", out)
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        out.append(_problem("missing required field: blocks", "/view/blocks"))
        return out
    out.extend(block_problems(blocks, limit=MODAL_BLOCK_LIMIT, pointer="/view/blocks"))
    has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
    if view.get("type") == "modal" and has_input and view.get("submit") is None:
        out.append(_problem("submit is required when an input block is present", "/view"))
    return out


def check_blocks(blocks: list[Any], *, modal: bool = False) -> list[str]:
    """Every reason Slack would refuse these blocks in a message (or a modal); empty: fine."""
    return block_problems(blocks, limit=MODAL_BLOCK_LIMIT if modal else MESSAGE_BLOCK_LIMIT)


def check_view(view: Any) -> list[str]:
    """Every reason Slack would refuse this view; empty: fine."""
    return view_problems(view)

"""Slack's Block Kit limits, checked in one place (tests run every builder through it)."""

from __future__ import annotations

from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_MODAL_BLOCKS = 100


def check_blocks(blocks: list[dict[str, Any]], *, modal: bool = False) -> list[str]:
    """Human-readable violations of Slack's limits; an empty list means Slack accepts it."""
    problems: list[str] = []
    limit = MAX_MODAL_BLOCKS if modal else MAX_MESSAGE_BLOCKS
    if len(blocks) > limit:
        problems.append(f"{len(blocks)} blocks (at most {limit})")
    block_ids: set[str] = set()
    action_ids: set[str] = set()

    def text_len(obj: Any) -> int:
        return len(obj.get("text", "")) if isinstance(obj, dict) else 0

    def element(where: str, el: dict[str, Any]) -> None:
        aid = el.get("action_id")
        if aid is not None:
            if len(aid) > 255:
                problems.append(f"{where}: action_id longer than 255")
            if aid in action_ids:
                problems.append(f"{where}: duplicate action_id {aid!r}")
            action_ids.add(aid)
        if el.get("type") == "button":
            if text_len(el.get("text")) > 75:
                problems.append(f"{where}: button text longer than 75")
            if len(el.get("value", "")) > 2000:
                problems.append(f"{where}: button value longer than 2000")
            if el.get("style") not in (None, "primary", "danger"):
                problems.append(f"{where}: button style {el.get('style')!r}")
        for opt in el.get("options", []):
            if text_len(opt.get("text")) > 75:
                problems.append(f"{where}: option text longer than 75")
        if len(el.get("options", [])) > 100:
            problems.append(f"{where}: more than 100 options")

    for i, block in enumerate(blocks):
        where = f"blocks[{i}] ({block.get('type')})"
        bid = block.get("block_id")
        if bid is not None:
            if len(bid) > 255:
                problems.append(f"{where}: block_id longer than 255")
            if bid in block_ids:
                problems.append(f"{where}: duplicate block_id {bid!r}")
            block_ids.add(bid)
        kind = block.get("type")
        if kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append(f"{where}: needs text or fields")
            if text_len(block.get("text")) > 3000:
                problems.append(f"{where}: text longer than 3000")
            fields = block.get("fields", [])
            if len(fields) > 10:
                problems.append(f"{where}: more than 10 fields")
            if any(text_len(f) > 2000 for f in fields):
                problems.append(f"{where}: a field longer than 2000")
            if "accessory" in block:
                element(where, block["accessory"])
        elif kind == "header":
            if text_len(block.get("text")) > 150:
                problems.append(f"{where}: header longer than 150")
        elif kind == "context":
            if len(block.get("elements", [])) > 10:
                problems.append(f"{where}: more than 10 elements")
        elif kind == "actions":
            if len(block.get("elements", [])) > 25:
                problems.append(f"{where}: more than 25 elements")
            for j, el in enumerate(block.get("elements", [])):
                element(f"{where}.elements[{j}]", el)
        elif kind == "input":
            element(where, block.get("element", {}))
        elif kind not in ("divider", "image", "rich_text", "file"):
            problems.append(f"{where}: unknown block type")
    return problems


def check_view(view: dict[str, Any]) -> list[str]:
    problems = check_blocks(view.get("blocks", []), modal=True)
    for key in ("title", "submit", "close"):
        if key in view and len(view[key].get("text", "")) > 24:
            problems.append(f"view {key} longer than 24")
    if len(view.get("private_metadata", "")) > 3000:
        problems.append("private_metadata longer than 3000")
    return problems

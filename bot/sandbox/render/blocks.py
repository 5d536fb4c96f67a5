"""Block Kit blocks as HTML: header, section, context, divider, actions, image, input,
rich_text (unknown kinds are shown as such)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from bot.sandbox.render.elements import render_element, render_image
from bot.sandbox.render.mrkdwn import (
    Block,
    RenderContext,
    esc,
    link_html,
    render_plain,
    render_special,
    render_text,
    render_token,
    severity,
    shortcode,
)


def render_blocks(blocks: Iterable[Block], ctx: RenderContext) -> str:
    return "".join(render_block(b, ctx, i) for i, b in enumerate(blocks))


def render_block(block: Block, ctx: RenderContext, index: int = 0) -> str:
    kind = str(block.get("type", ""))
    renderer = _BLOCKS.get(kind)
    if renderer is None:
        return f'<div class="bk-block bk-unsupported">[unsupported block: {esc(kind)}]</div>'
    return renderer(block, ctx, index)


def _block_id(block: Block, index: int) -> str:
    return str(block.get("block_id") or f"b{index}")


def _header(block: Block, ctx: RenderContext, index: int) -> str:
    return f'<h3 class="bk-block bk-header">{severity(render_plain(block.get("text")))}</h3>'


def _section(block: Block, ctx: RenderContext, index: int) -> str:
    bid = _block_id(block, index)
    parts = []
    if block.get("text"):
        parts.append(f'<div class="bk-text">{render_text(block["text"], ctx)}</div>')
    if block.get("fields"):
        fields = "".join(
            f'<div class="bk-field">{render_text(f, ctx)}</div>' for f in block["fields"]
        )
        parts.append(f'<div class="bk-fields">{fields}</div>')
    body = f'<div class="bk-section-body">{"".join(parts)}</div>'
    accessory = ""
    if block.get("accessory"):
        accessory = (
            f'<div class="bk-accessory">{render_element(block["accessory"], bid, ctx)}</div>'
        )
    return f'<div class="bk-block bk-section" data-block-id="{esc(bid)}">{body}{accessory}</div>'


def _context(block: Block, ctx: RenderContext, index: int) -> str:
    items = []
    for el in block.get("elements") or []:
        if el.get("type") == "image":
            items.append(render_image(el))
        else:
            items.append(f"<span>{render_text(el, ctx)}</span>")
    return f'<div class="bk-block bk-context">{" ".join(items)}</div>'


def _divider(block: Block, ctx: RenderContext, index: int) -> str:
    return '<hr class="bk-block bk-divider">'


def _actions(block: Block, ctx: RenderContext, index: int) -> str:
    bid = _block_id(block, index)
    elements = "".join(render_element(el, bid, ctx) for el in block.get("elements") or [])
    return (
        f'<div class="bk-block bk-actions" role="group" data-block-id="{esc(bid)}">{elements}</div>'
    )


def _image(block: Block, ctx: RenderContext, index: int) -> str:
    return f'<div class="bk-block bk-image-block">{render_image(block)}</div>'


def _input(block: Block, ctx: RenderContext, index: int) -> str:
    bid = _block_id(block, index)
    control_id = f"in-{re.sub(r'[^A-Za-z0-9_-]', '_', bid)}"
    label = render_plain(block.get("label"))
    optional = ' <span class="bk-optional">(optional)</span>' if block.get("optional") else ""
    element = render_element(
        block.get("element") or {},
        bid,
        ctx,
        control_id=control_id,
        required=not block.get("optional"),
    )
    hint = block.get("hint")
    hint_html = f'<p class="bk-hint">{render_plain(hint)}</p>' if hint else ""
    # A checkbox group is not labelable; it points at the label by aria-labelledby instead.
    tag = (
        "span"
        if (block.get("element") or {}).get("type") in ("checkboxes", "radio_buttons")
        else "label"
    )
    label_attr = f'for="{control_id}"' if tag == "label" else ""
    return (
        f'<div class="bk-block bk-input" data-block-id="{esc(bid)}">'
        f'<{tag} class="bk-label" id="{control_id}-label" {label_attr}>{label}{optional}</{tag}>'
        f"{element}{hint_html}"
        f'<p class="bk-error" role="alert" data-error-for="{esc(bid)}" hidden></p>'
        f"</div>"
    )


def _rich_text(block: Block, ctx: RenderContext, index: int) -> str:
    """Enough of rich_text to show what people type (Slack sends it on user messages)."""
    out = []
    for part in block.get("elements") or []:
        inner = "".join(_rich_inline(e, ctx) for e in part.get("elements") or [])
        kind = part.get("type")
        if kind == "rich_text_preformatted":
            out.append(f"<pre>{inner}</pre>")
        elif kind == "rich_text_quote":
            out.append(f"<blockquote>{inner}</blockquote>")
        elif kind == "rich_text_list":
            tag = "ol" if part.get("style") == "ordered" else "ul"
            items = "".join(
                "<li>" + "".join(_rich_inline(e, ctx) for e in item.get("elements") or []) + "</li>"
                for item in part.get("elements") or []
            )
            out.append(f"<{tag}>{items}</{tag}>")
        else:
            out.append(f"<div>{inner}</div>")
    return f'<div class="bk-block bk-rich-text">{"".join(out)}</div>'


def _rich_inline(el: Block, ctx: RenderContext) -> str:
    kind = el.get("type")
    if kind == "text":
        out = esc(el.get("text", "")).replace("\n", "<br>")
        style = el.get("style") or {}
        for flag, tag in (("code", "code"), ("bold", "b"), ("italic", "i"), ("strike", "s")):
            if style.get(flag):
                out = f"<{tag}>{out}</{tag}>"
        return out
    if kind == "user":
        return render_token(f"@{el.get('user_id', '')}", ctx)
    if kind == "channel":
        return render_token(f"#{el.get('channel_id', '')}", ctx)
    if kind == "link":
        return link_html(str(el.get("url", "")), esc(el.get("text") or el.get("url", "")))
    if kind == "emoji":
        return shortcode(str(el.get("name", ""))) or f":{esc(el.get('name', ''))}:"
    if kind == "broadcast":
        return render_special(str(el.get("range", "here")), "", ctx)
    if kind == "usergroup":
        return render_special(f"subteam^{el.get('usergroup_id', '')}", "", ctx)
    return ""


_BLOCKS: dict[str, Callable[[Block, RenderContext, int], str]] = {
    "header": _header,
    "section": _section,
    "context": _context,
    "divider": _divider,
    "actions": _actions,
    "image": _image,
    "input": _input,
    "rich_text": _rich_text,
}

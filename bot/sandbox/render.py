"""Block Kit and mrkdwn rendered to HTML for the sandbox page.

This module owns the whole picture of "what would Slack show for this message": the
sandbox page never interprets Block Kit itself, it only inserts the HTML made here.
Everything is a pure function of (payload, RenderContext); no I/O.

Safety rule: every piece of text that came from a message, a user or a view goes through
`_esc` (or is produced by `render_mrkdwn`, which escapes) before it reaches the output,
so `<script>` typed into Slack stays text. Only our own tags are emitted raw.

Handles the tests and the page rely on: each message is an `<article>`; Block Kit buttons
are `<button>` elements labelled with their text and carry `data-action-id`,
`data-block-id` and `data-value`; a modal is a `<dialog aria-labelledby=...>` whose form
controls carry `data-block-id`, `data-action-id` and `data-kind` so app.js can build the
`view_submission` values; `<!date^…>` tokens become `<time datetime data-format>` that
app.js localises in the browser.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Block = Mapping[str, Any]


@dataclass(frozen=True)
class RenderContext:
    """What the renderer needs to know about the workspace, and who is looking."""

    users: Mapping[str, str] = field(default_factory=dict)  # user id -> display name
    channels: Mapping[str, str] = field(default_factory=dict)  # channel id -> name
    usergroups: Mapping[str, str] = field(default_factory=dict)  # subteam id -> handle
    viewer: str | None = None  # the user the page acts as
    bot_user_id: str | None = None
    bot_name: str = "Incident Bot"

    def user_name(self, user_id: str) -> str:
        if self.bot_user_id and user_id == self.bot_user_id:
            return self.bot_name
        return self.users.get(user_id, user_id)

    def channel_name(self, channel_id: str) -> str:
        return self.channels.get(channel_id, channel_id)


# --------------------------------------------------------------------------- text


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _slack_unescape(text: str) -> str:
    # Slack text escapes exactly these three; anything else is shown as typed.
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(text: str) -> str:
    """Slack-escaped plain text -> HTML-escaped text."""
    return _esc(_slack_unescape(text))


# A small table of the emoji the bot and its runbooks use; unknown codes stay as typed.
EMOJI: dict[str, str] = {
    "rotating_light": "🚨",
    "fire": "🔥",
    "white_check_mark": "✅",
    "heavy_check_mark": "✔️",
    "x": "❌",
    "warning": "⚠️",
    "eyes": "👀",
    "pager": "📟",
    "bell": "🔔",
    "alarm_clock": "⏰",
    "hourglass": "⌛",
    "hourglass_flowing_sand": "⏳",
    "memo": "📝",
    "clipboard": "📋",
    "pushpin": "📌",
    "mag": "🔍",
    "link": "🔗",
    "lock": "🔒",
    "busts_in_silhouette": "👥",
    "bust_in_silhouette": "👤",
    "red_circle": "🔴",
    "large_orange_circle": "🟠",
    "large_yellow_circle": "🟡",
    "large_blue_circle": "🔵",
    "large_green_circle": "🟢",
    "white_circle": "⚪",
    "arrow_up": "⬆️",
    "arrow_down": "⬇️",
    "arrow_right": "➡️",
    "tada": "🎉",
    "sos": "🆘",
    "construction": "🚧",
    "books": "📚",
    "book": "📖",
    "speech_balloon": "💬",
    "calendar": "📅",
    "telephone_receiver": "📞",
    "point_right": "👉",
    "thumbsup": "👍",
    "+1": "👍",
    "wave": "👋",
    "ballot_box_with_check": "☑️",
    "white_large_square": "⬜",
    "black_square_button": "🔲",
    "information_source": "ℹ️",
    "stopwatch": "⏱️",
    "chart_with_upwards_trend": "📈",
    "performing_arts": "🎭",
    "robot_face": "🤖",
    "dart": "🎯",
    "sunny": "☀️",
    # game-day drills (blocks/drills.py)
    "no_bell": "🔕",
    "small_blue_diamond": "🔹",
    "fast_forward": "⏩",
}
_EMOJI_RE = re.compile(r":([a-z0-9_+\-]+):")


def _emoji(escaped: str) -> str:
    return _EMOJI_RE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), escaped)


def render_plain(obj: Mapping[str, Any] | str | None) -> str:
    """A `plain_text` (or mrkdwn used as a label) object as escaped text, no markup."""
    if obj is None:
        return ""
    if isinstance(obj, str):
        return _emoji(_text(obj))
    text = _text(str(obj.get("text", "")))
    return _emoji(text) if obj.get("emoji", True) else text


def render_text(obj: Mapping[str, Any] | None, ctx: RenderContext) -> str:
    """A Block Kit text object: mrkdwn is formatted, plain_text is escaped."""
    if not obj:
        return ""
    if obj.get("type") == "mrkdwn":
        return render_mrkdwn(str(obj.get("text", "")), ctx)
    return render_plain(obj).replace("\n", "<br>")


# --------------------------------------------------------------------------- mrkdwn

# Pieces that must not be touched by *bold*/_italic_ rules are swapped for placeholders
# first (code, then <...> tokens), the rest is escaped and formatted, then swapped back.
_PH = "\x00{}\x00"
_PH_RE = re.compile("\x00(\\d+)\x00")
_CODE_BLOCK_RE = re.compile(r"```\n?([\s\S]*?)```")
_CODE_RE = re.compile(r"`([^`\n]+)`")
_TOKEN_RE = re.compile(r"<([^<>\n]+)>")
# Slack only formats when the markers sit at word edges: snake_case and 2*3*4 stay as typed.
_BOLD_RE = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC_RE = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_STRIKE_RE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")
_SAFE_URL_RE = re.compile(r"^(https?://|mailto:|tel:|slack://)", re.IGNORECASE)
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _link(url: str, label_html: str) -> str:
    url = _slack_unescape(url)
    if not _SAFE_URL_RE.match(url):
        # javascript: and friends are shown, never made clickable.
        return label_html
    return f'<a href="{_esc(url)}" target="_blank" rel="noopener noreferrer">{label_html}</a>'


def iso_utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat().replace("+00:00", "Z")


def render_date(epoch: str, fmt: str, fallback: str, link: str | None = None) -> str:
    """`<!date^epoch^format^link|fallback>` -> a `<time>` app.js localises."""
    try:
        iso = iso_utc(float(epoch))
    except (ValueError, OverflowError, OSError):
        return _text(fallback)
    out = (
        f'<time datetime="{iso}" data-format="{_esc(_slack_unescape(fmt))}">'
        f"{_text(fallback or iso)}</time>"
    )
    return _link(link, out) if link else out


def _render_token(body: str, ctx: RenderContext) -> str:
    """The inside of one `<...>`: a mention, a channel, a date, a special or a link."""
    target, _, label = body.partition("|")
    if target.startswith("@"):
        uid = target[1:]
        name = label or ctx.user_name(uid)
        me = " bk-mention-me" if uid == ctx.viewer else ""
        return f'<span class="bk-mention{me}" data-user-id="{_esc(uid)}">@{_text(name)}</span>'
    if target.startswith("#"):
        cid = target[1:]
        name = ctx.channels.get(cid) or label or cid
        return (
            f'<a class="bk-channel" href="#{_esc(cid)}" data-channel-id="{_esc(cid)}">'
            f"#{_text(name)}</a>"
        )
    if target.startswith("!"):
        return _render_special(target[1:], label, ctx)
    if _SCHEME_RE.match(target):
        return _link(target, _format(label) if label else _text(target))
    # Not a Slack token at all (e.g. a bare `<script>`): show it exactly as typed.
    return _text(f"<{body}>")


def _render_special(cmd: str, label: str, ctx: RenderContext) -> str:
    if cmd.startswith("date^"):
        parts = cmd.split("^")
        epoch = parts[1] if len(parts) > 1 else ""
        fmt = parts[2] if len(parts) > 2 else "{date_short_pretty} {time}"
        link = parts[3] if len(parts) > 3 else None
        return render_date(epoch, fmt, label, link)
    if cmd in ("channel", "here", "everyone"):
        return f'<span class="bk-mention bk-broadcast">@{cmd}</span>'
    if cmd.startswith("subteam^"):
        sid = cmd.split("^", 1)[1]
        handle = label.lstrip("@") or ctx.usergroups.get(sid, sid)
        return (
            f'<span class="bk-mention bk-group" data-group-id="{_esc(sid)}">@{_text(handle)}</span>'
        )
    return _text(label or cmd)


def render_mrkdwn(text: str, ctx: RenderContext) -> str:
    """Slack mrkdwn -> HTML. Escapes everything; only the formatting becomes tags."""
    saved: list[str] = []

    def keep(fragment: str) -> str:
        saved.append(fragment)
        return _PH.format(len(saved) - 1)

    text = text.replace("\x00", "")
    text = _CODE_BLOCK_RE.sub(lambda m: keep(f"<pre>{_text(m.group(1))}</pre>"), text)
    text = _CODE_RE.sub(lambda m: keep(f"<code>{_text(m.group(1))}</code>"), text)
    text = _TOKEN_RE.sub(lambda m: keep(_render_token(m.group(1), ctx)), text)
    out = _quotes(_format(text))
    out = out.replace("\n", "<br>")
    # Placeholders may nest (a link label never holds code, but keep it general).
    while _PH_RE.search(out):
        out = _PH_RE.sub(lambda m: saved[int(m.group(1))], out)
    return out


def _format(text: str) -> str:
    """Escape, then turn *bold*, _italic_, ~strike~ and :emoji: into markup."""
    out = _emoji(_text(text))
    out = _BOLD_RE.sub(r"<b>\1</b>", out)
    out = _ITALIC_RE.sub(r"<i>\1</i>", out)
    return _severity(_STRIKE_RE.sub(r"<s>\1</s>", out))


_SEV_RE = re.compile(r"\bSEV([1-4])\b")


def _severity(escaped: str) -> str:
    """SEV1..SEV4 get their colour (style.css) wherever the bot writes them."""
    return _SEV_RE.sub(r'<span class="sev sev-\1">SEV\1</span>', escaped)


def _quotes(escaped: str) -> str:
    """Lines starting with `>` (escaped by now) become one blockquote per run of lines."""
    if "&gt;" not in escaped:
        return escaped
    out: list[str] = []
    quote: list[str] = []
    for line in [*escaped.split("\n"), None]:
        if line is not None and line.startswith("&gt;"):
            quote.append(line[4:].removeprefix(" "))
            continue
        if quote:
            out.append("<blockquote>" + "\n".join(quote) + "</blockquote>")
            quote = []
        if line is not None:
            out.append(line)
    return "\n".join(out)


# --------------------------------------------------------------------------- elements


def _attrs(**values: object) -> str:
    """data-* style attributes, escaped; None values are left out."""
    parts = []
    for key, value in values.items():
        if value is None:
            continue
        parts.append(f'{key.replace("_", "-")}="{_esc(value)}"')
    return " ".join(parts)


def _confirm_text(el: Block, ctx: RenderContext) -> str | None:
    confirm = el.get("confirm")
    if not confirm:
        return None
    title = _slack_unescape(str((confirm.get("title") or {}).get("text", "")))
    body = _slack_unescape(str((confirm.get("text") or {}).get("text", "")))
    return f"{title}\n\n{body}".strip()


def render_button(el: Block, block_id: str | None, ctx: RenderContext) -> str:
    style = el.get("style")
    cls = "bk-button" + (f" bk-{style}" if style in ("primary", "danger") else "")
    attrs = _attrs(
        data_action_id=el.get("action_id"),
        data_block_id=block_id,
        data_value=el.get("value"),
        data_url=el.get("url"),
        data_confirm=_confirm_text(el, ctx),
    )
    return f'<button type="button" class="{cls}" {attrs}>{render_plain(el.get("text"))}</button>'


def _option_value(opt: Block) -> str:
    return str(opt.get("value", ""))


def _options(el: Block) -> list[Block]:
    opts = list(el.get("options") or [])
    for group in el.get("option_groups") or []:
        opts.extend(group.get("options") or [])
    return opts


def _select_options(el: Block, selected: set[str]) -> str:
    def one(opt: Block) -> str:
        value = _option_value(opt)
        sel = " selected" if value in selected else ""
        return f'<option value="{_esc(value)}"{sel}>{render_plain(opt.get("text"))}</option>'

    parts: list[str] = [one(o) for o in el.get("options") or []]
    for group in el.get("option_groups") or []:
        inner = "".join(one(o) for o in group.get("options") or [])
        parts.append(f'<optgroup label="{render_plain(group.get("label"))}">{inner}</optgroup>')
    return "".join(parts)


def _initial_values(el: Block) -> set[str]:
    kind = el.get("type")
    if kind in ("static_select", "external_select", "radio_buttons") and el.get("initial_option"):
        return {_option_value(el["initial_option"])}
    if kind in ("multi_static_select", "checkboxes"):
        return {_option_value(o) for o in el.get("initial_options") or []}
    if kind == "users_select" and el.get("initial_user"):
        return {str(el["initial_user"])}
    if kind == "multi_users_select":
        return {str(u) for u in el.get("initial_users") or []}
    if kind in ("conversations_select", "channels_select"):
        initial = el.get("initial_conversation") or el.get("initial_channel")
        return {str(initial)} if initial else set()
    if kind in ("multi_conversations_select", "multi_channels_select"):
        return {str(c) for c in el.get("initial_conversations") or el.get("initial_channels") or []}
    return set()


def _id_options(items: Iterable[tuple[str, str]], prefix: str, selected: set[str]) -> str:
    out = []
    for item_id, name in sorted(items, key=lambda pair: pair[1].lower()):
        sel = " selected" if item_id in selected else ""
        out.append(f'<option value="{_esc(item_id)}"{sel}>{prefix}{_esc(name)}</option>')
    return "".join(out)


def render_element(
    el: Block,
    block_id: str | None,
    ctx: RenderContext,
    *,
    control_id: str | None = None,
    label: str | None = None,
    required: bool = False,
) -> str:
    """One interactive element. In messages a change fires a block action; in a modal
    the control is read on submit (app.js tells the two apart by where it sits)."""
    kind = str(el.get("type", ""))
    if kind == "button":
        return render_button(el, block_id, ctx)
    if kind == "image":
        return render_image(el)
    common = _attrs(
        id=control_id,
        name=el.get("action_id"),
        data_action_id=el.get("action_id"),
        data_block_id=block_id,
        data_kind=kind,
        aria_label=None if control_id else label or _placeholder(el) or kind,
    )
    if required:
        # The Slack client will not submit a modal with an empty required input either.
        common += " required"
    placeholder = _placeholder(el)
    ph_attr = f' placeholder="{placeholder}"' if placeholder else ""
    selected = _initial_values(el)
    first = f'<option value="">{placeholder or "Select…"}</option>'
    if kind in ("plain_text_input", "email_text_input", "url_text_input", "number_input"):
        initial = _esc(el.get("initial_value") or "")
        limits = _attrs(
            maxlength=el.get("max_length"),
            minlength=el.get("min_length"),
        )
        if kind == "plain_text_input" and el.get("multiline"):
            return f'<textarea {common} {limits} rows="4"{ph_attr}>{initial}</textarea>'
        html_type = {"email_text_input": "email", "url_text_input": "url"}.get(kind, "text")
        if kind == "number_input":
            html_type = "number"
            limits = _attrs(min=el.get("min_value"), max=el.get("max_value"))
            if el.get("is_decimal_allowed"):
                limits += ' step="any"'
        return f'<input type="{html_type}" {common} {limits} value="{initial}"{ph_attr}>'
    if kind in ("static_select", "external_select"):
        return f"<select {common}>{first}{_select_options(el, selected)}</select>"
    if kind == "multi_static_select":
        return f"<select multiple {common}>{_select_options(el, selected)}</select>"
    if kind == "users_select":
        return f"<select {common}>{first}{_id_options(ctx.users.items(), '', selected)}</select>"
    if kind == "multi_users_select":
        opts = _id_options(ctx.users.items(), "", selected)
        return f"<select multiple {common}>{opts}</select>"
    if kind in ("conversations_select", "channels_select"):
        opts = _id_options(ctx.channels.items(), "#", selected)
        return f"<select {common}>{first}{opts}</select>"
    if kind in ("multi_conversations_select", "multi_channels_select"):
        opts = _id_options(ctx.channels.items(), "#", selected)
        return f"<select multiple {common}>{opts}</select>"
    if kind == "datepicker":
        return f'<input type="date" {common} value="{_esc(el.get("initial_date") or "")}">'
    if kind == "timepicker":
        return f'<input type="time" {common} value="{_esc(el.get("initial_time") or "")}">'
    if kind in ("checkboxes", "radio_buttons"):
        return _render_choices(el, block_id, ctx, control_id, label, selected)
    if kind == "overflow":
        opts = "".join(
            f'<option value="{_esc(_option_value(o))}">{render_plain(o.get("text"))}</option>'
            for o in _options(el)
        )
        return f'<select {common}><option value="">⋯</option>{opts}</select>'
    return f'<span class="bk-unsupported">[{_esc(kind or "element")}]</span>'


def _placeholder(el: Block) -> str:
    return render_plain(el.get("placeholder")) if el.get("placeholder") else ""


def _render_choices(
    el: Block,
    block_id: str | None,
    ctx: RenderContext,
    control_id: str | None,
    label: str | None,
    selected: set[str],
) -> str:
    kind = str(el.get("type"))
    html_type = "checkbox" if kind == "checkboxes" else "radio"
    name = f"{block_id or ''}.{el.get('action_id', '')}"
    items = []
    for opt in _options(el):
        value = _option_value(opt)
        checked = " checked" if value in selected else ""
        desc = opt.get("description")
        desc_html = f'<span class="bk-hint">{render_text(desc, ctx)}</span>' if desc else ""
        items.append(
            f'<label class="bk-choice"><input type="{html_type}" name="{_esc(name)}" '
            f'value="{_esc(value)}"{checked}> {render_text(opt.get("text"), ctx)}{desc_html}'
            f"</label>"
        )
    group = _attrs(
        id=control_id,
        data_action_id=el.get("action_id"),
        data_block_id=block_id,
        data_kind=kind,
        aria_labelledby=f"{control_id}-label" if control_id else None,
        aria_label=None if control_id else label,
    )
    role = "group" if kind == "checkboxes" else "radiogroup"
    return f'<div role="{role}" class="bk-choices" {group}>{"".join(items)}</div>'


def render_image(el: Block) -> str:
    """Images are shown as links (the sandbox works offline; no remote fetches)."""
    url = str(el.get("image_url") or el.get("url") or "")
    alt = str(el.get("alt_text") or (el.get("title") or {}).get("text") or url or "image")
    return _link(url, f'<span class="bk-image">🖼 {_text(alt)}</span>') if url else _text(alt)


# --------------------------------------------------------------------------- blocks


def render_blocks(blocks: Iterable[Block], ctx: RenderContext) -> str:
    return "".join(render_block(b, ctx, i) for i, b in enumerate(blocks))


def render_block(block: Block, ctx: RenderContext, index: int = 0) -> str:
    kind = str(block.get("type", ""))
    renderer = _BLOCKS.get(kind)
    if renderer is None:
        return f'<div class="bk-block bk-unsupported">[unsupported block: {_esc(kind)}]</div>'
    return renderer(block, ctx, index)


def _block_id(block: Block, index: int) -> str:
    return str(block.get("block_id") or f"b{index}")


def _header(block: Block, ctx: RenderContext, index: int) -> str:
    return f'<h3 class="bk-block bk-header">{_severity(render_plain(block.get("text")))}</h3>'


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
    return f'<div class="bk-block bk-section" data-block-id="{_esc(bid)}">{body}{accessory}</div>'


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
        f'<div class="bk-block bk-actions" role="group" data-block-id="{_esc(bid)}">'
        f"{elements}</div>"
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
        f'<div class="bk-block bk-input" data-block-id="{_esc(bid)}">'
        f'<{tag} class="bk-label" id="{control_id}-label" {label_attr}>{label}{optional}</{tag}>'
        f"{element}{hint_html}"
        f'<p class="bk-error" role="alert" data-error-for="{_esc(bid)}" hidden></p>'
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
        out = _esc(el.get("text", "")).replace("\n", "<br>")
        style = el.get("style") or {}
        for flag, tag in (("code", "code"), ("bold", "b"), ("italic", "i"), ("strike", "s")):
            if style.get(flag):
                out = f"<{tag}>{out}</{tag}>"
        return out
    if kind == "user":
        return _render_token(f"@{el.get('user_id', '')}", ctx)
    if kind == "channel":
        return _render_token(f"#{el.get('channel_id', '')}", ctx)
    if kind == "link":
        return _link(str(el.get("url", "")), _esc(el.get("text") or el.get("url", "")))
    if kind == "emoji":
        return EMOJI.get(str(el.get("name")), f":{_esc(el.get('name', ''))}:")
    if kind == "broadcast":
        return _render_special(str(el.get("range", "here")), "", ctx)
    if kind == "usergroup":
        return _render_special(f"subteam^{el.get('usergroup_id', '')}", "", ctx)
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


# --------------------------------------------------------------------------- messages


def message_dom_id(channel: str, ts: str) -> str:
    return f"msg-{channel}-{ts.replace('.', '-')}"


def _ts_time(ts: str) -> str:
    try:
        return render_date(ts.split(".")[0], "{time}", _fallback_time(float(ts)))
    except ValueError:
        return ""


def _fallback_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%H:%M UTC")


def render_message(msg: Mapping[str, Any], ctx: RenderContext) -> str:
    """One message as an `<article>`: author, time, marks, then blocks (or text)."""
    channel = str(msg.get("channel", ""))
    ts = str(msg.get("ts", ""))
    user = str(msg.get("user") or msg.get("bot_id") or "")
    is_bot = bool(msg.get("bot_id")) or (ctx.bot_user_id is not None and user == ctx.bot_user_id)
    author = _esc(msg.get("username") or (ctx.user_name(user) if user else "unknown"))
    ephemeral = bool(msg.get("ephemeral_to") or msg.get("is_ephemeral"))
    pinned = bool(msg.get("pinned") or msg.get("pinned_to"))
    edited = bool(msg.get("edited"))

    classes = ["msg"]
    sev = _message_severity(msg)
    if sev:
        classes.append(f"msg-sev-{sev}")
    marks = []
    if is_bot:
        marks.append('<span class="mark mark-app">APP</span>')
    if pinned:
        classes.append("msg-pinned")
        marks.append('<span class="mark mark-pinned" title="Pinned">📌 Pinned</span>')
    if ephemeral:
        classes.append("msg-ephemeral")
    thread_ts = msg.get("thread_ts")
    if thread_ts and thread_ts != ts:
        marks.append('<span class="mark mark-thread">↳ reply in thread</span>')
    elif msg.get("reply_count"):
        count = int(msg["reply_count"])
        marks.append(
            f'<span class="mark mark-thread">{count} repl{"y" if count == 1 else "ies"}</span>'
        )
    edited_html = '<span class="mark mark-edited">(edited)</span>' if edited else ""
    avatar = _avatar(user, ctx, is_bot)
    header = (
        f'<header class="msg-head"><span class="msg-author">{author}</span>'
        f"{''.join(marks)}"
        f'<span class="msg-time">{_ts_time(ts)}</span>{edited_html}</header>'
    )
    blocks = msg.get("blocks") or []
    if blocks:
        body = render_blocks(blocks, ctx)
    else:
        body = f'<div class="bk-text">{render_mrkdwn(str(msg.get("text") or ""), ctx)}</div>'
    files = msg.get("files") or []
    files_html = ""
    if files:
        links = "".join(f"<li>{_render_file(f)}</li>" for f in files)
        files_html = f'<ul class="msg-files">{links}</ul>'
    reactions = _render_reactions(msg.get("reactions") or [])
    eph = '<footer class="msg-ephemeral-note">👁 Only visible to you</footer>' if ephemeral else ""
    return (
        f'<article class="{" ".join(classes)}" id="{_esc(message_dom_id(channel, ts))}" '
        f'data-channel="{_esc(channel)}" data-ts="{_esc(ts)}" aria-label="{author}">'
        f'{avatar}{header}<div class="msg-body">{body}{files_html}{reactions}</div>{eph}</article>'
    )


AVATAR_COLOURS = 8


def _avatar(user: str, ctx: RenderContext, is_bot: bool) -> str:
    """A square with the author's initial (drawn by CSS from data-initial, so it adds no
    text to the message); one colour a person, the same on every page."""
    if is_bot:
        return '<span class="msg-avatar msg-avatar-app" aria-hidden="true"></span>'
    name = ctx.user_name(user) if user else "?"
    colour = sum(map(ord, user)) % AVATAR_COLOURS
    return (
        f'<span class="msg-avatar av-{colour}" data-initial="{_esc(name[:1].upper())}" '
        f'aria-hidden="true"></span>'
    )


def _message_severity(msg: Mapping[str, Any]) -> str | None:
    """The severity a message announces up top (header, then first section), for its bar."""
    texts = [
        str((b.get("text") or {}).get("text", ""))
        for b in msg.get("blocks") or []
        if b.get("type") in ("header", "section")
    ][:2] or [str(msg.get("text") or "")]
    found = _SEV_RE.search(texts[0].split("\n", 1)[0]) or (
        _SEV_RE.search(texts[1]) if len(texts) > 1 else None
    )
    return found.group(1) if found else None


def _render_file(f: Mapping[str, Any]) -> str:
    name = str(f.get("title") or f.get("name") or "file")
    url = str(f.get("url_private") or f.get("permalink") or f.get("url") or "")
    label = f"📎 {_esc(name)}"
    return _link(url, label) if url else f'<span class="msg-file">{label}</span>'


def _render_reactions(reactions: Iterable[Any]) -> str:
    items = []
    for r in reactions:
        if isinstance(r, Mapping):
            name = str(r.get("name", ""))
            count = r.get("count") or len(r.get("users") or []) or 1
        else:
            name, count = str(r), 1
        emoji = EMOJI.get(name, f":{_esc(name)}:")
        items.append(f'<span class="reaction" title=":{_esc(name)}:">{emoji} {int(count)}</span>')
    return f'<div class="msg-reactions">{"".join(items)}</div>' if items else ""


# --------------------------------------------------------------------------- views


def view_dom_id(view_id: str) -> str:
    return f"view-{re.sub(r'[^A-Za-z0-9_-]', '_', view_id)}"


def render_view(
    view: Mapping[str, Any],
    ctx: RenderContext,
    *,
    view_id: str | None = None,
    errors: Mapping[str, str] | None = None,
) -> str:
    """A modal as a `<dialog>` labelled by its title, holding a form of its blocks.

    `errors` (block_id -> message, as a `response_action: errors` returns them) are shown
    under their inputs; app.js fills the same slots when a submission fails.
    """
    vid = str(view_id or view.get("id") or "view")
    dom_id = view_dom_id(vid)
    title_id = f"{dom_id}-title"
    title = render_plain(view.get("title")) or "Modal"
    submit = view.get("submit")
    close = render_plain(view.get("close")) or ("Cancel" if submit else "Close")
    body = render_blocks(view.get("blocks") or [], ctx)
    for block_id, message in (errors or {}).items():
        body = body.replace(
            f'<p class="bk-error" role="alert" data-error-for="{_esc(block_id)}" hidden></p>',
            f'<p class="bk-error" role="alert" data-error-for="{_esc(block_id)}">'
            f"{_text(message)}</p>",
        )
    submit_html = (
        f'<button type="submit" class="bk-button bk-primary">{render_plain(submit)}</button>'
        if submit
        else ""
    )
    return (
        f'<dialog class="modal" id="{dom_id}" data-view-id="{_esc(vid)}" '
        f'aria-labelledby="{title_id}">'
        f'<form class="modal-form" method="dialog" data-view-id="{_esc(vid)}">'
        f'<header class="modal-head"><h2 id="{title_id}">{title}</h2></header>'
        f'<div class="modal-body">{body}'
        f'<p class="modal-error" role="alert" hidden></p></div>'
        f'<footer class="modal-foot">'
        f'<button type="button" class="bk-button modal-close" value="close">{close}</button>'
        f"{submit_html}</footer></form></dialog>"
    )

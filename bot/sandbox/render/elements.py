"""Block Kit elements as HTML controls: buttons, selects, text inputs, pickers, choices,
images; each carries the data-* handles app.js reads back."""

from __future__ import annotations

from collections.abc import Iterable

from bot.sandbox.render.mrkdwn import (
    Block,
    RenderContext,
    esc,
    link_html,
    render_plain,
    render_text,
    slack_text,
    slack_unescape,
)


def _attrs(**values: object) -> str:
    """data-* style attributes, escaped; None values are left out."""
    parts = []
    for key, value in values.items():
        if value is None:
            continue
        parts.append(f'{key.replace("_", "-")}="{esc(value)}"')
    return " ".join(parts)


def _confirm_text(el: Block, ctx: RenderContext) -> str | None:
    confirm = el.get("confirm")
    if not confirm:
        return None
    title = slack_unescape(str((confirm.get("title") or {}).get("text", "")))
    body = slack_unescape(str((confirm.get("text") or {}).get("text", "")))
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
        return f'<option value="{esc(value)}"{sel}>{render_plain(opt.get("text"))}</option>'

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
        out.append(f'<option value="{esc(item_id)}"{sel}>{prefix}{esc(name)}</option>')
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
        aria_label=None if control_id else label or _placeholder(el) or _NAMES.get(kind, kind),
    )
    if required:
        # The Slack client will not submit a modal with an empty required input either.
        common += " required"
    placeholder = _placeholder(el)
    ph_attr = f' placeholder="{placeholder}"' if placeholder else ""
    selected = _initial_values(el)
    first = f'<option value="">{placeholder or "Select…"}</option>'
    if kind in ("plain_text_input", "email_text_input", "url_text_input", "number_input"):
        initial = esc(el.get("initial_value") or "")
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
        return f'<input type="date" {common} value="{esc(el.get("initial_date") or "")}">'
    if kind == "timepicker":
        return f'<input type="time" {common} value="{esc(el.get("initial_time") or "")}">'
    if kind in ("checkboxes", "radio_buttons"):
        return _render_choices(el, block_id, ctx, control_id, label, selected)
    if kind == "overflow":
        # Slack shows a "⋯" button that opens the menu; a select is the closest control
        opts = "".join(
            f'<option value="{esc(_option_value(o))}">{render_plain(o.get("text"))}</option>'
            for o in _options(el)
        )
        return f'<select class="bk-overflow" {common}><option value="">⋯</option>{opts}</select>'
    return f'<span class="bk-unsupported">[{esc(kind or "element")}]</span>'


_NAMES = {"overflow": "More actions"}  # Slack's own name for its "⋯" button


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
            f'<label class="bk-choice"><input type="{html_type}" name="{esc(name)}" '
            f'value="{esc(value)}"{checked}> {render_text(opt.get("text"), ctx)}{desc_html}'
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
    return (
        link_html(url, f'<span class="bk-image">🖼 {slack_text(alt)}</span>')
        if url
        else slack_text(alt)
    )

"""The surfaces the page shows: a message as an `<article>` (author, time, marks, blocks,
files, reactions), a modal as a `<dialog>` holding a form of its blocks, and the app's
Home tab as a region of its blocks."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from bot.sandbox.render.blocks import render_blocks
from bot.sandbox.render.mrkdwn import (
    SEV_RE,
    RenderContext,
    emoji,
    esc,
    link_html,
    render_date,
    render_mrkdwn,
    render_plain,
    shortcode,
    slack_text,
)

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
    author = esc(msg.get("username") or (ctx.user_name(user) if user else "unknown"))
    ephemeral = bool(msg.get("ephemeral_to") or msg.get("is_ephemeral"))
    pinned = bool(msg.get("pinned") or msg.get("pinned_to"))
    edited = bool(msg.get("edited"))

    classes = ["msg"]
    sev = _message_severity(msg)
    if sev and not ephemeral:  # an answer to you announces nothing: no severity bar
        classes.append(f"msg-sev-{sev}")
    marks = []
    if is_bot:
        marks.append('<span class="mark mark-app">APP</span>')
    if pinned:
        classes.append("msg-pinned")
        marks.append('<span class="mark mark-pinned" title="Pinned">📌 Pinned</span>')
    if ephemeral:
        classes.append("msg-ephemeral")
        tone = answer_tone(msg)
        if tone:
            classes.append(f"msg-{tone}")
    thread_ts = msg.get("thread_ts")
    thread = ""  # a reply names its thread: the page shows it under its parent, folded
    replies = ""
    if thread_ts and thread_ts != ts:
        classes.append("msg-reply")
        thread = f' data-thread="{esc(thread_ts)}"'
        marks.append('<span class="mark mark-thread">↳ reply in thread</span>')
    elif msg.get("reply_count"):
        count = int(msg["reply_count"])
        replies = (
            f'<button type="button" class="thread-toggle" data-thread-of="{esc(ts)}" '
            f'aria-expanded="false">{count} repl{"y" if count == 1 else "ies"}</button>'
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
        f'<article class="{" ".join(classes)}" id="{esc(message_dom_id(channel, ts))}" '
        f'data-channel="{esc(channel)}" data-ts="{esc(ts)}"{thread} aria-label="{author}">'
        f'{avatar}{header}<div class="msg-body">{body}{files_html}{reactions}{replies}</div>'
        f"{eph}</article>"
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
        f'<span class="msg-avatar av-{colour}" data-initial="{esc(name[:1].upper())}" '
        f'aria-hidden="true"></span>'
    )


# How the bot opens an answer says how it went (blocks/: :white_check_mark: done,
# :warning: / :x: / :no_entry: not done); the page colours ephemeral answers by it.
OK_LEADS = ("✅", "✔", "☑", "🎉")
ERROR_LEADS = ("⚠", "❌", "⛔", "🚫")


def answer_tone(msg: Mapping[str, Any]) -> str | None:
    """The tone of an answer from the emoji it opens with: ok, error, or None (neither)."""
    first = next(
        (
            str((b.get("text") or {}).get("text", ""))
            for b in msg.get("blocks") or []
            if b.get("type") in ("header", "section") and b.get("text")
        ),
        str(msg.get("text") or ""),
    )
    lead = emoji(first.lstrip())
    if lead.startswith(ERROR_LEADS):
        return "error"
    if lead.startswith(OK_LEADS):
        return "ok"
    return None


def _message_severity(msg: Mapping[str, Any]) -> str | None:
    """The severity a message announces up top (header, then first section), for its bar."""
    texts = [
        str((b.get("text") or {}).get("text", ""))
        for b in msg.get("blocks") or []
        if b.get("type") in ("header", "section")
    ][:2] or [str(msg.get("text") or "")]
    found = SEV_RE.search(texts[0].split("\n", 1)[0]) or (
        SEV_RE.search(texts[1]) if len(texts) > 1 else None
    )
    return found.group(1) if found else None


def _render_file(f: Mapping[str, Any]) -> str:
    name = str(f.get("title") or f.get("name") or "file")
    url = str(f.get("url_private") or f.get("permalink") or f.get("url") or "")
    label = f"📎 {esc(name)}"
    return link_html(url, label) if url else f'<span class="msg-file">{label}</span>'


def _render_reactions(reactions: Iterable[Any]) -> str:
    items = []
    for r in reactions:
        if isinstance(r, Mapping):
            name = str(r.get("name", ""))
            count = r.get("count") or len(r.get("users") or []) or 1
        else:
            name, count = str(r), 1
        emoji = shortcode(name) or f":{esc(name)}:"
        items.append(f'<span class="reaction" title=":{esc(name)}:">{emoji} {int(count)}</span>')
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
            f'<p class="bk-error" role="alert" data-error-for="{esc(block_id)}" hidden></p>',
            f'<p class="bk-error" role="alert" data-error-for="{esc(block_id)}">'
            f"{slack_text(message)}</p>",
        )
    submit_html = (
        f'<button type="submit" class="bk-button bk-primary">{render_plain(submit)}</button>'
        if submit
        else ""
    )
    return (
        f'<dialog class="modal" id="{dom_id}" data-view-id="{esc(vid)}" '
        f'aria-labelledby="{title_id}">'
        f'<form class="modal-form" method="dialog" data-view-id="{esc(vid)}">'
        f'<header class="modal-head"><h2 id="{title_id}">{title}</h2></header>'
        f'<div class="modal-body">{body}'
        f'<p class="modal-error" role="alert" hidden></p></div>'
        f'<footer class="modal-foot">'
        f'<button type="button" class="bk-button modal-close" value="close">{close}</button>'
        f"{submit_html}</footer></form></dialog>"
    )


def render_home(view: Mapping[str, Any] | None, ctx: RenderContext) -> str:
    """The app's Home tab as the viewer's Slack shows it (a region labelled "App Home"
    whose buttons click as the view's), or what Slack shows before one is published."""
    if not view:
        body = '<p class="home-empty">This app has not published a Home tab for you yet.</p>'
        return f'<div class="home-view" role="region" aria-label="App Home">{body}</div>'
    vid = str(view.get("id") or "")
    return (
        f'<div class="home-view" role="region" aria-label="App Home" data-view-id="{esc(vid)}">'
        f"{render_blocks(view.get('blocks') or [], ctx)}</div>"
    )

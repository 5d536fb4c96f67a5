"""Block Kit and mrkdwn rendered to HTML for the sandbox page.

This module owns the whole picture of "what would Slack show for this message": the
sandbox page never interprets Block Kit itself, it only inserts the HTML made here.
Everything is a pure function of (payload, RenderContext); no I/O.

Safety rule: every piece of text that came from a message, a user or a view goes through
`esc` (or is produced by `render_mrkdwn`, which escapes) before it reaches the output,
so `<script>` typed into Slack stays text. Only our own tags are emitted raw.

Handles the tests and the page rely on: each message is an `<article>`; Block Kit buttons
are `<button>` elements labelled with their text and carry `data-action-id`,
`data-block-id` and `data-value`; a modal is a `<dialog aria-labelledby=...>` whose form
controls carry `data-block-id`, `data-action-id` and `data-kind` so app.js can build the
`view_submission` values; `<!date^…>` tokens become `<time datetime data-format>` that
app.js localises in the browser.

One module a layer: ``mrkdwn`` (context, text, mrkdwn), ``elements``, ``blocks``,
``surfaces`` (messages and modals).
"""

from bot.sandbox.render.blocks import render_block, render_blocks
from bot.sandbox.render.elements import render_button, render_element, render_image
from bot.sandbox.render.mrkdwn import (
    RenderContext,
    iso_utc,
    render_date,
    render_mrkdwn,
    render_plain,
    render_text,
    shortcode,
)
from bot.sandbox.render.surfaces import (
    message_dom_id,
    render_home,
    render_message,
    render_view,
    view_dom_id,
)

__all__ = [
    "RenderContext",
    "iso_utc",
    "message_dom_id",
    "render_block",
    "render_blocks",
    "render_button",
    "render_date",
    "render_element",
    "render_home",
    "render_image",
    "render_message",
    "render_mrkdwn",
    "render_plain",
    "render_text",
    "render_view",
    "shortcode",
    "view_dom_id",
]

"""Block Kit for the shortcuts (manifest.yaml `features.shortcuts`): the declare form
filled in from a message, the *Add to incident timeline* form and its answers. Pure
functions of the domain objects; a message's text arrives as Slack sent it (its wire form).
"""

from __future__ import annotations

from collections.abc import Sequence

import blocks.mrkdwn as mk
import blocks.payloads as payloads
from blocks.common import Block, Message, Mrkdwn, context, md, mention, option, plain, section
from blocks.incident import shown_title
from bot.core.models import Incident

# the callback ids of manifest.yaml's shortcuts (tests/unit/test_shortcut_blocks.py holds
# the two together)
DECLARE = "declare"  # global: the declare form
DECLARE_FROM_MESSAGE = "declare_from_message"  # message: the form, filled in from it
ADD_TO_TIMELINE = "add_to_timeline"  # message: onto an open incident's timeline
# the forms they open
DECLARE_FROM_MESSAGE_FORM = "declare_from_message_form"
ADD_TO_TIMELINE_FORM = "add_to_timeline_form"
ADD_INCIDENT = "incident"  # the form's select of incidents (block and action id)

TITLE_MAX = 150  # the declare form's title field
DESCRIPTION_MAX = 2500
CHOICES = 100  # Slack's most options in a select


def message_title(wire: str) -> str:
    """A title from a message: its first line with words in it, as its reader saw it
    (mentions as @name, links by their label), cut to the title field's length."""
    for line in mk.readable(wire).splitlines():
        words = " ".join(line.split())
        if words:
            return mk.clip(words, TITLE_MAX)
    return ""


def message_description(wire: str) -> str:
    """The whole message, as its reader saw it, for the description field."""
    return mk.clip(mk.readable(wire).strip(), DESCRIPTION_MAX)


def from_message(channel: str, author: str | None) -> Mrkdwn:
    """The declare form's first line: where what fills it comes from."""
    by = md(" by {}", mention(author)) if author else md("")
    return md(
        ":speech_balloon: From a message{} in {}. Change anything before declaring.",
        by,
        mk.channel(channel),
    )


def _form(blocks: list[Block], meta: str, *, submit: bool) -> dict[str, object]:
    view: dict[str, object] = {
        "type": "modal",
        "callback_id": ADD_TO_TIMELINE_FORM,
        "title": plain("Add to incident timeline", 24),
        "close": plain("Cancel" if submit else "Close", 24),
        "private_metadata": meta,
        "blocks": blocks,
    }
    if submit:
        view["submit"] = plain("Add", 24)
    return view


def add_form_loading(quote: Mrkdwn, meta: str) -> dict[str, object]:
    """Opened at once (the trigger lasts seconds): the incidents follow (`add_form`)."""
    return _form(
        [section(md(">{}", quote)), context(md("Looking up your open incidents…"))],
        meta,
        submit=False,
    )


def add_form_problem(problem: Mrkdwn, quote: Mrkdwn, meta: str) -> dict[str, object]:
    """The form, when the incidents could not be looked up."""
    return _form([section(md(">{}", quote)), section(problem)], meta, submit=False)


def add_form(incidents: Sequence[Incident], quote: Mrkdwn, meta: str) -> dict[str, object]:
    """The incidents the user is in (shown to them alone: in full), to add the message to;
    none: says so, and how to declare one from the message instead."""
    head = section(md(">{}", quote))
    if not incidents:
        text = md(
            ":information_source: You are in no open incident's channel. Join one (`/incident "
            "list`), or declare one from this message: *More actions* → *Declare incident*."
        )
        return _form([head, section(text)], meta, submit=False)
    options = [option(f"{i.id} · {shown_title(i)}", i.id) for i in incidents[:CHOICES]]
    select: Block = {
        "type": "static_select",
        "action_id": ADD_INCIDENT,
        "placeholder": plain("Choose an incident"),
        "options": options,
    }
    if len(options) == 1:
        select["initial_option"] = options[0]
    picker: Block = {
        "type": "input",
        "block_id": ADD_INCIDENT,
        "label": plain("Incident"),
        "element": select,
    }
    note = context(md("It goes on the timeline with its own time and author, once."))
    return _form([head, picker, note], meta, submit=True)


def added(incident: Incident, *, new: bool) -> Message:
    """The answer to the one who added it (or found it there already)."""
    where = mk.channel(incident.channel_id, incident.channel_name)
    if new:
        text = md(
            ":pushpin: Added to the timeline of *{}* · {} ({}).",
            incident.id,
            shown_title(incident),
            where,
        )
    else:
        text = md(
            ":pushpin: That message is on the timeline of *{}* already ({}).", incident.id, where
        )
    return text, [section(text)]


def added_notice(by: str, channel: str, link: str | None) -> Message:
    """Said in the incident's channel: the room knows what joined its timeline."""
    what = mk.link(link, "A message") if link else md("A message")
    text = md(
        ":pushpin: {} from {} was added to the timeline by {}.",
        what,
        mk.channel(channel),
        mention(by),
    )
    return text, [context(text)]


def malformed(what: str) -> Message:
    """A shortcut's payload the bot cannot act on: what was missing, and what to do."""
    hint = md("Try it again from Slack's menu (a message's *More actions*, or *Shortcuts*).")
    return payloads.malformed("shortcut", what, hint=hint)


def form_failed(code: str) -> Message:
    text = md(":warning: The form did not open ({}). Try the shortcut again.", code)
    return text, [section(text)]

"""The shortcuts of manifest.yaml (`features.shortcuts`; the rules: bot/shortcuts.py): the
global *Declare incident*, and on a message *Declare incident* and *Add to incident
timeline*. Each acks, then opens its form on the trigger before anything slow (DESIGN
rule 1); a payload without what the shortcut needs (its message, a trigger) gets one
sentence saying so, at its response_url (a global shortcut has none: in the bot's DM).

Slack's payloads, read by handlers/payloads.py: `MessageAction` for a message shortcut,
`GlobalShortcut` for a global one."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

import blocks.incident as incident_ui
import blocks.policy as policy_ui
import blocks.shortcuts as ui
from blocks.mrkdwn import clip
from bot.core.errors import STORE_ERRORS
from bot.core.models import MessageRef
from bot.core.policy import Where
from bot.core.slack import SlackError
from bot.incidents import AlreadyDeclaring, IncidentError
from bot.runbooks.library import rank_runbooks
from bot.services import Services
from bot.timeline import message_text
from handlers.incident import open_declare_form
from handlers.interactions import answer_form, read_declare_form
from handlers.payloads import (
    GlobalShortcut,
    Malformed,
    MessageAction,
    P,
    Payload,
    ReplyTo,
    parse,
    reply_to,
)
from handlers.policy import form_payload, incident_named
from handlers.replies import STORE_DOWN, answering, ephemeral, refusal, responder

log = logging.getLogger(__name__)

KEPT_TEXT = 800  # of a message's text, carried in the form to the timeline (which keeps 300)


class FromMessage(Payload):
    """The declare-from-message form's metadata: the message, and where to answer."""

    channel: str
    ts: str
    author: str | None = None
    response_url: str | None = None


class Kept(Payload):
    """The *Add to incident timeline* form's metadata: the message as the timeline keeps
    it (bot/timeline.py reads it as a dict), and where to answer."""

    channel: str
    message: dict[str, Any]
    response_url: str | None = None


def register(app: AsyncApp, svc: Services) -> None:
    async def shortcut(ack: AsyncAck, model: type[P], body: dict[str, Any]) -> P | None:
        """Ack a shortcut and read it; None when Slack sent it without what it needs
        (told what was missing, at its response_url or in the bot's DM)."""
        await ack()
        try:
            return parse(model, body)
        except Malformed as exc:
            await responder(svc, reply_to(body))(**ephemeral(ui.malformed(exc.missing)))
            return None

    async def open_form(
        shortcut: MessageAction | GlobalShortcut, view: dict[str, Any] | None
    ) -> str | None:
        """Open `view` (None: the declare form, as `/incident declare` opens it) on the
        shortcut's trigger; its view id, or None (answered)."""
        try:
            if view is None:
                await open_declare_form(svc, shortcut.trigger_id, channel=None)
                return None
            return await svc.slack.open_view(shortcut.trigger_id, view)
        except SlackError as exc:
            log.warning("shortcut form did not open", extra={"error": exc.code})
            respond = responder(svc, shortcut.reply)
            await respond(**ephemeral(ui.form_failed(exc.code)))
            return None

    @app.shortcut(ui.DECLARE)
    async def declare(ack: AsyncAck, body: dict[str, Any]) -> None:
        found = await shortcut(ack, GlobalShortcut, body)
        if found is not None:
            await open_form(found, None)

    @app.shortcut(ui.DECLARE_FROM_MESSAGE)
    async def declare_from_message(ack: AsyncAck, body: dict[str, Any]) -> None:
        found = await shortcut(ack, MessageAction, body)
        if found is None:
            return
        channel, message = found.channel.id, found.message
        wire, author = message.text, message.user
        title = ui.message_title(wire)
        ranked = rank_runbooks(svc.runbooks.values(), alertname=None, title=title)
        meta = FromMessage(
            channel=channel, ts=message.ts, author=author, response_url=found.response_url
        )
        modal = incident_ui.declare_modal(
            svc.config,
            title=title,
            description=ui.message_description(wire),
            runbooks=[(b.id, b.title) for b in ranked],
            callback_id=ui.DECLARE_FROM_MESSAGE_FORM,
            note=ui.from_message(channel, author or None),
            private_metadata=meta.model_dump_json(),
        )
        await open_form(found, modal)

    @app.view(ui.DECLARE_FROM_MESSAGE_FORM)
    async def declare_from_message_submitted(ack: AsyncAck, body: dict[str, Any]) -> None:
        form = await read_declare_form(svc, ack, body)
        if form is None:
            return
        try:
            meta = parse(FromMessage, form.meta)
        except Malformed as exc:
            await answer_form(svc, form, exc.message[0])
            return
        ref = MessageRef(channel=meta.channel, ts=meta.ts, user=meta.author)
        try:
            await svc.shortcuts.declare_from_message(ref, **form.fields, reply=form.reply)
        except AlreadyDeclaring:
            return  # the same form, sent twice at once: the first one declares
        except IncidentError as exc:
            await answer_form(svc, form, refusal(exc))

    @app.shortcut(ui.ADD_TO_TIMELINE)
    async def add_to_timeline(ack: AsyncAck, body: dict[str, Any]) -> None:
        found = await shortcut(ack, MessageAction, body)
        if found is None:
            return
        message = found.message
        files = [{"name": f.title or f.name} for f in message.files]
        kept = {
            "ts": message.ts,
            "user": message.user,
            "text": clip(message.text, KEPT_TEXT),
            "files": files[:5],
        }
        meta = Kept(channel=found.channel.id, message=kept, response_url=found.response_url)
        metadata, quote = json.dumps(meta.model_dump(), ensure_ascii=False), message_text(kept)
        view_id = await open_form(found, ui.add_form_loading(quote, metadata))
        if view_id is None:
            return
        # the form is open: now the incidents the user is in, which asks Slack
        try:
            view = ui.add_form(await svc.shortcuts.choices(found.user.id), quote, metadata)
        except STORE_ERRORS:
            view = ui.add_form_problem(STORE_DOWN, quote, metadata)
        try:
            await svc.slack.update_view(view_id, view)
        except SlackError as exc:  # closed meanwhile: nothing to show it in
            log.info("timeline form not filled in", extra={"error": exc.code})

    @app.view(ui.ADD_TO_TIMELINE_FORM)
    async def add_submitted(ack: AsyncAck, body: dict[str, Any]) -> None:
        form = await form_payload(ack, body)
        if form is None:
            return
        await ack()
        user = form.user.id
        # at the response_url the shortcut came with, kept in the form's metadata
        opened = reply_to(form.view.meta)
        respond = responder(svc, ReplyTo(response_url=opened.response_url, user=form.user))
        async with answering(respond, what="add_to_timeline"):
            meta = parse(Kept, form.view.meta)
            incident = await incident_named(svc, form.view.state.value(ui.ADD_INCIDENT) or "")
            channel = meta.channel
            # asked again at the submission: membership may have changed while it was open
            where = Where(channel)
            decision = await svc.policy.check("timeline", incident, user, where=where)
            if not decision.allowed:
                await respond(**ephemeral(policy_ui.refusal(decision)))
                return
            new = await svc.shortcuts.add_to_timeline(
                incident, meta.message, by=user, channel=channel
            )
            await respond(**ephemeral(ui.added(incident, new=new)))

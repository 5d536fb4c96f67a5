"""The shortcuts of manifest.yaml (`features.shortcuts`; the rules: bot/shortcuts.py): the
global *Declare incident*, and on a message *Declare incident* and *Add to incident
timeline*. Each acks, then opens its form on the trigger before anything slow (DESIGN
rule 1); a payload without what the shortcut needs (its message, a trigger) gets one
sentence saying so, at its response_url (a global shortcut has none: in the bot's DM).

Slack's payloads: `message_action` (callback_id, trigger_id, message with ts, text and
user, channel, response_url, team, user) for a message shortcut, `shortcut` (callback_id,
trigger_id, user, team) for a global one."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

import blocks.incident as incident_ui
import blocks.policy as policy_ui
import blocks.shortcuts as ui
from blocks.mrkdwn import Mrkdwn, clip
from bot.core.errors import STORE_ERRORS
from bot.core.models import MessageRef
from bot.core.policy import Where
from bot.core.slack import SlackError
from bot.incidents import AlreadyDeclaring, IncidentError
from bot.runbooks.library import rank_runbooks
from bot.services import Services
from bot.timeline import message_text
from handlers.incident import open_declare_form
from handlers.interactions import _value, answer_form, read_declare_form
from handlers.policy import incident_named
from handlers.replies import STORE_DOWN, Respond, answering, ephemeral, refusal

log = logging.getLogger(__name__)

TS = re.compile(r"\d{9,11}\.\d{6}")
KEPT_TEXT = 800  # of a message's text, carried in the form to the timeline (which keeps 300)


def message_of(body: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(channel id, message) of a message shortcut, or None when its payload lacks them."""
    channel = (body.get("channel") or {}).get("id")
    message = body.get("message")
    if not channel or not isinstance(message, dict) or not TS.fullmatch(str(message.get("ts"))):
        return None
    return str(channel), message


def responder(svc: Services, body: dict[str, Any], meta: dict[str, Any] | None = None) -> Respond:
    """Answers to the user alone, at the shortcut's response_url (kept in the form's
    metadata for its submission); without one, in their DM with the bot."""
    url = (meta or {}).get("response_url") or body.get("response_url")
    user = str((body.get("user") or {}).get("id") or "")

    async def respond(text: str = "", blocks: list[dict[str, Any]] | None = None, **_: Any) -> None:
        try:
            if url:
                await svc.slack.respond(str(url), Mrkdwn(text), blocks)
            elif user:
                await svc.slack.post(user, Mrkdwn(text), blocks)
        except SlackError as exc:
            log.info("shortcut answer not delivered", extra={"error": exc.code})

    return respond


def register(app: AsyncApp, svc: Services) -> None:
    async def open_form(body: dict[str, Any], view: dict[str, Any] | None) -> str | None:
        """Open `view` (None: the declare form, as `/incident declare` opens it) on the
        shortcut's trigger; its view id, or None (answered)."""
        respond = responder(svc, body)
        trigger = body.get("trigger_id")
        if not trigger:
            await respond(**ephemeral(ui.malformed("a trigger to open its form with")))
            return None
        try:
            if view is None:
                await open_declare_form(svc, str(trigger), channel=None)
                return None
            return await svc.slack.open_view(str(trigger), view)
        except SlackError as exc:
            log.warning("shortcut form did not open", extra={"error": exc.code})
            await respond(**ephemeral(ui.form_failed(exc.code)))
            return None

    async def acked_message(ack: AsyncAck, body: dict[str, Any]) -> tuple[str, Any] | None:
        """Ack a message shortcut: its (channel, message), or None (told what was missing)."""
        await ack()
        found = message_of(body)
        if found is None:
            await responder(svc, body)(**ephemeral(ui.malformed("the message")))
        return found

    @app.shortcut(ui.DECLARE)
    async def declare(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await open_form(body, None)

    @app.shortcut(ui.DECLARE_FROM_MESSAGE)
    async def declare_from_message(ack: AsyncAck, body: dict[str, Any]) -> None:
        found = await acked_message(ack, body)
        if found is None:
            return
        channel, message = found
        wire, author = str(message.get("text") or ""), message.get("user")
        title = ui.message_title(wire)
        ranked = rank_runbooks(svc.runbooks.values(), alertname=None, title=title)
        meta = {
            "channel": channel,
            "ts": message["ts"],
            "author": author,
            "response_url": body.get("response_url"),
        }
        modal = incident_ui.declare_modal(
            svc.config,
            title=title,
            description=ui.message_description(wire),
            runbooks=[(b.id, b.title) for b in ranked],
            callback_id=ui.DECLARE_FROM_MESSAGE_FORM,
            note=ui.from_message(channel, str(author) if author else None),
            private_metadata=json.dumps(meta),
        )
        await open_form(body, modal)

    @app.view(ui.DECLARE_FROM_MESSAGE_FORM)
    async def declare_from_message_submitted(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        form = await read_declare_form(svc, ack, body, view)
        if form is None:
            return
        meta = form.meta
        ref = MessageRef(channel=meta["channel"], ts=meta["ts"], user=meta.get("author"))
        try:
            await svc.shortcuts.declare_from_message(ref, **form.fields, reply=form.reply)
        except AlreadyDeclaring:
            return  # the same form, sent twice at once: the first one declares
        except IncidentError as exc:
            await answer_form(svc, form, refusal(exc))

    @app.shortcut(ui.ADD_TO_TIMELINE)
    async def add_to_timeline(ack: AsyncAck, body: dict[str, Any]) -> None:
        found = await acked_message(ack, body)
        if found is None:
            return
        channel, message = found
        files = [{"name": f.get("title") or f.get("name")} for f in message.get("files") or []]
        kept = {
            "ts": message["ts"],
            "user": message.get("user"),
            "text": clip(str(message.get("text") or ""), KEPT_TEXT),
            "files": files[:5],
        }
        meta = {"channel": channel, "message": kept, "response_url": body.get("response_url")}
        metadata, quote = json.dumps(meta, ensure_ascii=False), message_text(kept)
        view_id = await open_form(body, ui.add_form_loading(quote, metadata))
        if view_id is None:
            return
        # the form is open: now the incidents the user is in, which asks Slack
        user = str(body["user"]["id"])
        try:
            view = ui.add_form(await svc.shortcuts.choices(user), quote, metadata)
        except STORE_ERRORS:
            view = ui.add_form_problem(STORE_DOWN, quote, metadata)
        try:
            await svc.slack.update_view(view_id, view)
        except SlackError as exc:  # closed meanwhile: nothing to show it in
            log.info("timeline form not filled in", extra={"error": exc.code})

    @app.view(ui.ADD_TO_TIMELINE_FORM)
    async def add_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        user, meta = str(body["user"]["id"]), json.loads(view.get("private_metadata") or "{}")
        respond = responder(svc, body, meta)
        async with answering(respond, what="add_to_timeline"):
            incident = await incident_named(svc, _value(view["state"]["values"], ui.ADD_INCIDENT))
            channel, message = str(meta["channel"]), dict(meta["message"])
            # asked again at the submission: membership may have changed while it was open
            where = Where(channel)
            decision = await svc.policy.check("timeline", incident, user, where=where)
            if not decision.allowed:
                await respond(**ephemeral(policy_ui.refusal(decision)))
                return
            new = await svc.shortcuts.add_to_timeline(incident, message, by=user, channel=channel)
            await respond(**ephemeral(ui.added(incident, new=new)))

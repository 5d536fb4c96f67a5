"""The stakeholder update's **Draft update** button and modal (bot/stakeholders.py drafts
and sends). Ack first (DESIGN rule 1); the modal opens before anything slow."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

import blocks.stakeholders as stakeholders_ui
from blocks.mrkdwn import md
from bot.core.models import Incident
from bot.core.slack import SlackError
from bot.incidents import IncidentError
from bot.services import Services
from handlers.payloads import Action
from handlers.policy import Click, allowed, form_payload, guarded, incident_named
from handlers.replies import refusal, tell

log = logging.getLogger(__name__)


def register(app: AsyncApp, svc: Services) -> None:
    @app.action(stakeholders_ui.ACTION_DRAFT)
    @guarded(svc, "stakeholder_update", _drafted_for)
    async def draft(click: Click) -> None:
        user, channel = click.user, click.channel
        assert click.incident is not None
        _, key = stakeholders_ui.parse_draft_value(click.action.value or "")
        try:
            incident, audience, text, problem = await svc.stakeholders.draft(click.incident.id, key)
            meta = json.dumps({"incident": incident.id, "audience": key, "channel": channel})
            modal = stakeholders_ui.draft_modal(
                incident, audience, text, problem=problem, private_metadata=meta
            )
            await svc.slack.open_view(click.payload.trigger_id, modal)
        except IncidentError as exc:
            await tell(svc, channel, user, refusal(exc))
        except SlackError as exc:
            log.warning("draft modal did not open", extra={"error": exc.code})
            await tell(svc, channel, user, md(":warning: The draft did not open; click again."))

    @app.view(stakeholders_ui.DRAFT_CALLBACK)
    async def send(ack: AsyncAck, body: dict[str, Any]) -> None:
        form = await form_payload(ack, body)
        if form is None:
            return
        text = form.view.state.value(stakeholders_ui.DRAFT_BLOCK) or ""
        if not text.strip():
            errors = {stakeholders_ui.DRAFT_BLOCK: "Write the update first."}
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        user, meta = form.user.id, form.view.meta
        # one update per modal, however often it is submitted (DESIGN rule 2)
        if not await svc.policy.first_submission(form.view.id):
            return
        try:
            incident = await incident_named(svc, meta.get("incident", ""))
            if not await allowed(svc, "stakeholder_update", incident, user, meta.get("channel")):
                return
            sent = await svc.stakeholders.send(
                meta.get("incident", ""), meta.get("audience", ""), text, by=user
            )
        except IncidentError as exc:
            await tell(svc, meta.get("channel"), user, refusal(exc))
            return
        if sent.incident.channel_id:
            note, blocks = stakeholders_ui.update_sent(
                sent.audience, by=user, next_due=sent.next_due
            )
            try:
                await svc.slack.post(sent.incident.channel_id, note, blocks)
            except SlackError as exc:
                log.info("update confirmation not posted", extra={"error": exc.code})


async def _drafted_for(svc: Services, action: Action) -> Incident:
    incident_id, _ = stakeholders_ui.parse_draft_value(action.value or "")
    return await incident_named(svc, incident_id)

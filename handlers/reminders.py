"""Update reminders' buttons and modal. Ack first (DESIGN rule 1).

- **Post update** opens the update modal at once (the trigger_id lives ~3 s); submitting it
  posts the update (and moves the status, if changed), which resets the reminder.
- **Snooze** defers the reminder and turns the reminder message into a snoozed notice.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

import blocks.reminders as ui
from blocks.mrkdwn import md
from bot.core.policy import status_action
from bot.core.slack import SlackError
from bot.incidents import IncidentError
from bot.services import Services
from handlers.policy import (
    Click,
    allowed,
    form_payload,
    guarded,
    incident_in_value,
    incident_named,
)
from handlers.replies import refusal, tell

log = logging.getLogger(__name__)


def register(app: AsyncApp, svc: Services) -> None:
    @app.action(ui.ACTION_POST_UPDATE)
    @guarded(svc, "update", incident_in_value)
    async def post_update(click: Click) -> None:
        incident, user, channel = click.incident, click.user, click.channel
        assert incident is not None
        if not incident.is_open:
            await tell(
                svc, channel, user, md(":warning: That incident is resolved; no update due.")
            )
            return
        meta = json.dumps({"incident": incident.id, "channel": channel})
        try:
            await svc.slack.open_view(
                click.payload.trigger_id, ui.update_modal(incident, private_metadata=meta)
            )
        except SlackError as exc:
            log.warning("update modal did not open", extra={"error": exc.code})
            await tell(
                svc, channel, user, md(":warning: The form did not open; use `/incident update`.")
            )

    @app.action(ui.ACTION_SNOOZE)
    @guarded(svc, "snooze", incident_in_value)
    async def snooze(click: Click) -> None:
        assert click.incident is not None
        user, channel = click.user, click.channel
        try:
            until = await svc.reminders.snooze(click.incident.id, by=user)
        except IncidentError as exc:
            await tell(svc, channel, user, refusal(exc))
            return
        text, blocks = ui.snoozed(user, until)
        ts = click.payload.container.message_ts
        try:
            if ts and channel:
                await svc.slack.update(channel, ts, text, blocks)
        except SlackError as exc:
            log.info("snoozed reminder not updated", extra={"error": exc.code})

    @app.view(ui.UPDATE_CALLBACK)
    async def update_submitted(ack: AsyncAck, body: dict[str, Any]) -> None:
        form = await form_payload(ack, body)
        if form is None:
            return
        values = form.view.state.chosen()
        text = ui.update_text(values)
        if not text:
            await ack(response_action="errors", errors={"impact": "Say what the impact is."})
            return
        await ack()
        user, meta = form.user.id, form.view.meta
        # one update per modal, however often it is submitted (DESIGN rule 2)
        if not await svc.policy.first_submission(form.view.id):
            return
        try:
            incident = await incident_named(svc, meta.get("incident", ""))
            channel = meta.get("channel")
            status = values.get("status")
            # a refused status change is told; the update itself is posted all the same
            if (
                status
                and status != incident.status
                and await allowed(svc, status_action(status), incident, user, channel)
            ):
                incident = await svc.incidents.set_status(incident, by=user, status=status)
            await svc.incidents.post_update(incident, by=user, text=text)
        except IncidentError as exc:
            await tell(svc, meta.get("channel"), user, refusal(exc))

"""Buttons and modals of the incident lifecycle."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

import blocks.incident as ui
import blocks.policy as policy_ui
from blocks.mrkdwn import Mrkdwn
from blocks.private import PRIVATE_FIELD
from bot import redaction
from bot.incidents import IncidentError
from bot.services import Services
from bot.slack import SlackError
from bot.store import STORE_ERRORS
from handlers.policy import Click, guarded, incident_in_value, policy
from handlers.replies import STORE_DOWN, refusal

log = logging.getLogger(__name__)

VIEW_TTL = 24 * 3600


def _value(state: dict[str, Any], block: str) -> Any:
    element = state.get(block, {}).get(block, {})
    if "selected_option" in element:
        return (element["selected_option"] or {}).get("value")
    return element.get("value")


def _ticked(state: dict[str, Any], block: str) -> bool:
    element = state.get(block, {}).get(block, {})
    return bool(element.get("selected_options"))


def register(app: AsyncApp, svc: Services) -> None:
    @app.view(ui.DECLARE_CALLBACK)
    async def declare_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        state = view["state"]["values"]
        title = " ".join((_value(state, "title") or "").split())
        if not title:
            await ack(response_action="errors", errors={"title": "Give the incident a title."})
            return
        user = body["user"]["id"]
        # the declare rate, answered in the form (it stays open, filled in) when exceeded
        try:
            decision = await policy(svc).check("declare", None, user)
        except STORE_ERRORS:
            await ack(
                response_action="errors", errors={"title": STORE_DOWN.removeprefix(":warning: ")}
            )
            return
        if not decision.allowed:
            await ack(response_action="errors", errors={"title": policy_ui.rate_text(decision)})
            return
        await ack()
        meta = json.loads(view.get("private_metadata") or "{}")
        # one incident per modal, however often Slack or the user sends it (DESIGN rule 2)
        if not await svc.store.claim_once("view", view["id"], ttl=VIEW_TTL, value="pending"):
            existing = await svc.store.once_value("view", view["id"])
            if existing and existing != "pending":
                incident = await svc.store.get(existing)
                if incident and incident.setup_missing:
                    await svc.incidents.setup(incident.id)
            return
        try:
            incident = await svc.incidents.declare(
                title=title,
                severity=_value(state, "severity"),
                by=user,
                description=_value(state, "description") or "",
                source="modal",
                runbook=_value(state, "runbook"),
                # unticked: as the config says for the runbook (private.runbooks)
                private=_ticked(state, PRIVATE_FIELD) or None,
            )
        except IncidentError as exc:
            await _tell(svc, meta.get("channel"), user, refusal(exc))
            return
        await svc.store.set_once_value("view", view["id"], incident.id, ttl=VIEW_TTL)
        shown = redaction.outside(incident, svc.config)  # told outside the incident's channel
        await _tell(svc, meta.get("channel"), user, ui.declared_ack(shown)[0])

    # a set-up failure is posted in the incident's channel, or the announce channel
    @app.action(ui.ACTION_RETRY_SETUP)
    @guarded(svc, "retry_setup", incident_in_value, shown="announcement")
    async def retry_setup(click: Click) -> None:
        assert click.incident is not None
        if click.incident.setup_missing:
            await svc.incidents.setup(click.incident.id)


async def _tell(svc: Services, channel: str | None, user: str, text: Mrkdwn) -> None:
    if not channel:
        return
    try:
        await svc.slack.ephemeral(channel, user, text)
    except SlackError as exc:
        # e.g. the modal came from a DM the bot cannot post in; the incident stands
        log.info("could not confirm declaration", extra={"error": exc.code})

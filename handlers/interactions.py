"""Buttons and modals of the incident lifecycle."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

import blocks.incident as ui
import blocks.policy as policy_ui
from blocks.privacy import PRIVATE_FIELD
from bot.core.errors import STORE_ERRORS
from bot.incidents import AlreadyDeclaring, IncidentError, SetupBusy
from bot.services import Services
from handlers.policy import Click, guarded, incident_in_value
from handlers.replies import STORE_DOWN, refusal, tell

log = logging.getLogger(__name__)


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
            decision = await svc.policy.check("declare", None, user)
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
        channel = meta.get("channel")
        try:
            await svc.incidents.declare(
                title=title,
                severity=_value(state, "severity"),
                by=user,
                description=_value(state, "description") or "",
                source="modal",
                runbook=_value(state, "runbook"),
                # unticked: as the config says for the runbook (private.runbooks)
                private=_ticked(state, PRIVATE_FIELD) or None,
                # one incident per modal, however often Slack or the user sends it
                key=f"view:{view['id']}",
                # told where the modal was opened, outside the incident's channel
                reply={"channel": channel, "user": user} if channel else None,
            )
        except AlreadyDeclaring:
            return  # the same form, sent twice at once: the first one declares
        except IncidentError as exc:
            await tell(svc, channel, user, refusal(exc))

    # a set-up failure is posted in the incident's channel, or the announce channel
    @app.action(ui.ACTION_RETRY_SETUP)
    @guarded(svc, "retry_setup", incident_in_value, shown="announcement")
    async def retry_setup(click: Click) -> None:
        assert click.incident is not None
        if click.incident.setup_missing:
            with contextlib.suppress(SetupBusy):  # a double click: the first one sets it up
                await svc.incidents.setup(click.incident.id)

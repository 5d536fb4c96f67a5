"""Alert ways in: Alertmanager's webhook route, and the buttons on alert messages
(Declare incident on an unmatched alert or in the digest: the declare form, filled in from
the alert, bot/alerts/claim.py; Resolve incident once its alerts resolved)."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

import blocks.alerts as ui
import blocks.incident as incident_ui
from blocks.common import Message
from bot.alerts import OverRate, QueueFull
from bot.alerts.claim import Prefill
from bot.alerts.intake import MAX_BODY, InvalidAlerts, bearer_ok, parse_alertmanager, sender_key
from bot.core import guard, redaction
from bot.core.errors import STORE_ERRORS
from bot.core.models import AlertGroupView, Incident
from bot.core.slack import SlackError
from bot.incidents import IncidentError
from bot.runbooks.library import rank_runbooks
from bot.services import Services
from handlers.interactions import answer_form, read_declare_form
from handlers.payloads import BlockActions, parse
from handlers.policy import Click, guarded, incident_in_value
from handlers.replies import answering, refusal, reply

log = logging.getLogger(__name__)

Route = Callable[[web.Request], Awaitable[web.Response]]
QUEUE_RETRY = 5  # seconds: a full queue drains in about this long


def _answer(status: int, error: str | None = None, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"ok": error is None, **extra}
    if error:
        body["error"] = error
    return web.json_response(body, status=status)


def _accepted(accepted: int) -> web.Response:
    """`_answer(200, accepted=accepted)`, byte for byte, at a third of its cost: nearly
    every POST gets this answer."""
    body = b'{"ok": true, "accepted": %d}' % accepted
    return web.Response(body=body, content_type="application/json", charset="utf-8")


def alertmanager_webhook(svc: Services) -> Route:
    """POST /alerts/alertmanager: check the bearer token, validate, book the sender's rate
    and persist (one Redis round trip), answer. The answer comes before any Slack work; a
    200 means the alerts are stored."""

    async def route(request: web.Request) -> web.Response:
        token = svc.settings.alertmanager_token
        if not token:
            return _answer(404, "the Alertmanager webhook is off (ALERTMANAGER_TOKEN is unset)")
        alerts = svc.alerts

        def refuse(
            status: int, reason: str, error: str, headers: dict[str, str] | None = None
        ) -> web.Response:
            alerts.rejected(reason)
            log.warning("Alertmanager payload refused", extra={"reason": reason, "status": status})
            return web.json_response({"ok": False, "error": error}, status=status, headers=headers)

        # the token is in the headers: checked before a byte of the body is read
        if not bearer_ok(request.headers.get("Authorization"), token):
            challenge = {"WWW-Authenticate": 'Bearer realm="alertmanager"'}
            return refuse(401, "unauthorized", "missing or wrong bearer token", challenge)
        body = await guard.read_body(request, MAX_BODY)
        if body is None:
            return refuse(413, "too_large", f"the payload is over {MAX_BODY // 1024 // 1024} MB")
        try:
            batch = parse_alertmanager(body, now=alerts.clock())
        except InvalidAlerts as exc:
            return refuse(400, "malformed", str(exc))
        try:
            accepted, dropped = await alerts.receive(
                batch, sender=sender_key(token, request.remote)
            )
        except OverRate as over:
            rate = alerts.settings.webhook_rate
            after = {"Retry-After": str(max(1, math.ceil(over.wait)))}
            return refuse(429, "rate", f"over {rate} POSTs (alerts.webhook_rate)", after)
        except QueueFull:
            # a 5xx: Alertmanager sends it again (it does not retry a 4xx)
            after = {"Retry-After": str(QUEUE_RETRY)}
            return web.json_response(
                {"ok": False, "error": "the alert queue is full; send again later"},
                status=503,
                headers=after,
            )
        except STORE_ERRORS as exc:
            # not stored: a non-2xx makes Alertmanager send it again
            log.warning("alerts not stored", extra={"error": str(exc)})
            return _answer(503, "the alert store is unreachable; send again later")
        if dropped:  # over alerts.groups_per_payload: counted, and told in the channel
            return _answer(200, accepted=accepted, dropped_groups=dropped)
        return _accepted(accepted)

    return route


def _outside(
    svc: Services, incident: Incident, view: AlertGroupView
) -> tuple[Incident, AlertGroupView]:
    """As the announce channel may show them: a private incident and its alert redacted."""
    return redaction.outside(incident, svc.config), redaction.alert_view(view, svc.config)


def _ephemeral(message: Message) -> dict[str, Any]:
    return reply(message, response_type="ephemeral", replace_original=False)


def register(app: AsyncApp, svc: Services) -> None:
    # opens the declare form filled in from the alert (nothing rate-limited before it: the
    # submission is the declare the policy counts); once the group has its incident, a
    # click is told whose it is
    @app.action(ui.ACTION_DECLARE)
    async def declare(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        async with answering(respond, what="alert_declare"):
            click = parse(BlockActions, body)
            gid = click.action.chosen or ""  # the button's value, or the digest's choice
            view, fill, current = await svc.alerts.declare_form(gid)
            if current is not None:
                await respond(**_ephemeral(ui.already_declared(*_outside(svc, current, view))))
                return
            shown = redaction.alert_view(view, svc.config)  # the clicker is outside it
            if shown is not view:  # an alert that makes a private incident: no details
                fill = replace(fill, title=shown.title, description="")
            ranked = rank_runbooks(
                svc.runbooks.values(), alertname=view.alertname, title=fill.title
            )
            meta = {"group": gid, "channel": click.channel_id}
            form = incident_ui.declare_modal(
                svc.config,
                severity=fill.severity,
                title=fill.title,
                description=fill.description,
                runbooks=[(b.id, b.title) for b in ranked],
                runbook=fill.runbook,
                private=shown is not view,
                callback_id=ui.DECLARE_CALLBACK,
                note=ui.declare_note(shown),
                private_metadata=json.dumps(meta),
            )
            try:  # the trigger_id dies in ~3 s: only Redis reads stood before this call
                await svc.slack.open_view(click.trigger_id, form)
            except SlackError as exc:
                log.warning("alert declare form did not open", extra={"error": exc.code})
                raise IncidentError("The form did not open; use `/incident declare`.") from exc

    @app.view(ui.DECLARE_CALLBACK)
    async def declare_submitted(ack: AsyncAck, body: dict[str, Any]) -> None:
        form = await read_declare_form(svc, ack, body)
        if form is None:
            return
        fields = form.fields
        fill = Prefill(
            fields["title"], fields["severity"], fields["description"], fields["runbook"]
        )
        try:
            incident, group, new = await svc.alerts.declare_from_button(
                str(form.meta.get("group") or ""),
                user=form.user,
                fill=fill,
                private=fields["private"],
                roles=fields["roles"],
                reply=form.reply,
            )
        except IncidentError as exc:
            await answer_form(svc, form, refusal(exc))
            return
        if not new:  # someone else's form (or a second one) declared it first
            text, _ = ui.already_declared(*_outside(svc, incident, group))
            await answer_form(svc, form, text)

    @app.action(ui.ACTION_RESOLVE)
    @guarded(svc, "resolve", incident_in_value, name="alert_resolve")
    async def resolve(click: Click) -> None:
        assert click.incident is not None
        incident = await svc.alerts.resolve_from_button(click.incident.id, user=click.user)
        text, blocks = ui.resolved_notice(click.user, incident.resolved_at or 0.0)
        await click.respond(**reply((text, blocks), replace_original=True))

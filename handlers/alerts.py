"""Alert ways in: Alertmanager's webhook route, and the buttons on alert messages
(Declare incident on an unmatched alert, Resolve incident once its alerts resolved)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncApp

import blocks.alerts as ui
from bot import redaction
from bot.alerts import MAX_BODY, InvalidAlerts, bearer_ok, parse_alertmanager
from bot.services import Services
from bot.store import STORE_ERRORS
from handlers.policy import Click, guarded, incident_in_value
from handlers.replies import reply

log = logging.getLogger(__name__)

Route = Callable[[web.Request], Awaitable[web.Response]]


def _answer(status: int, error: str | None = None, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"ok": error is None, **extra}
    if error:
        body["error"] = error
    return web.json_response(body, status=status)


async def _read(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or None when it is longer than `limit` (read no further)."""
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(256 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def alertmanager_webhook(svc: Services) -> Route:
    """POST /alerts/alertmanager: check the bearer token, validate, persist, answer.
    The answer comes before any Slack work; a 200 means the alerts are stored."""

    async def route(request: web.Request) -> web.Response:
        token = svc.settings.alertmanager_token
        if not token or svc.alerts is None:
            return _answer(404, "the Alertmanager webhook is off (ALERTMANAGER_TOKEN is unset)")
        if not bearer_ok(request.headers.get("Authorization"), token):
            svc.alerts.rejected("unauthorized")
            return web.json_response(
                {"ok": False, "error": "missing or wrong bearer token"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="alertmanager"'},
            )
        if (request.content_length or 0) > MAX_BODY:
            svc.alerts.rejected("too_large")
            return _answer(413, f"the payload is over {MAX_BODY // 1024 // 1024} MB")
        body = await _read(request, MAX_BODY)
        if body is None:
            svc.alerts.rejected("too_large")
            return _answer(413, f"the payload is over {MAX_BODY // 1024 // 1024} MB")
        try:
            batch = parse_alertmanager(body, now=svc.alerts.clock())
        except InvalidAlerts as exc:
            svc.alerts.rejected("malformed")
            return _answer(400, str(exc))
        try:
            await svc.alerts.accept(batch)
        except STORE_ERRORS as exc:
            # not stored: a non-2xx makes Alertmanager send it again
            log.warning("alerts not stored", extra={"error": str(exc)})
            return _answer(503, "the alert store is unreachable; send again later")
        return _answer(200, accepted=batch.count)

    return route


def register(app: AsyncApp, svc: Services) -> None:
    @app.action(ui.ACTION_DECLARE)
    @guarded(svc, "declare", None, name="alert_declare")
    async def declare(click: Click) -> None:
        if svc.alerts is None:
            return
        incident, view = await svc.alerts.declare_from_button(
            str(click.action.get("value") or ""), user=click.user
        )
        # answered in the announce channel: a private incident shows redacted
        cfg = svc.config
        shown = redaction.outside(incident, cfg), redaction.alert_view(view, cfg)
        text, blocks = ui.declared_from_alert(*shown)
        await click.respond(
            **reply((text, blocks), response_type="ephemeral", replace_original=False)
        )

    @app.action(ui.ACTION_RESOLVE)
    @guarded(svc, "resolve", incident_in_value, name="alert_resolve")
    async def resolve(click: Click) -> None:
        if svc.alerts is None or click.incident is None:
            return
        incident = await svc.alerts.resolve_from_button(click.incident.id, user=click.user)
        text, blocks = ui.resolved_notice(click.user, incident.resolved_at or 0.0)
        await click.respond(**reply((text, blocks), replace_original=True))

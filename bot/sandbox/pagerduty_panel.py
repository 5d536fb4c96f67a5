"""The sandbox's fake PagerDuty: its demo config and its side panel.

- `demo_config`: the user's config, with the fake's service, escalation policy and schedules
  filled in wherever the user named none, so `/oncall` and paging work out of the box.
- The "PagerDuty" panel shows who is on call now at each level of the fake's escalation
  policies, and the fake's incidents, re-rendered on every fake PagerDuty event. A triggered
  incident has an **Acknowledge** button: the fake acknowledges it as the PagerDuty user
  with the sandbox user's email (else its first assignee) and sends the signed webhook to
  the bot's /webhooks/pagerduty, as PagerDuty would.
"""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from bot.core.config import IncidentConfig, PagerDutyConfig
from bot.fakes.pagerduty import FakePagerDuty
from bot.fakes.slack import FakeSlack
from bot.sandbox.render import render_date
from bot.sandbox.web import sandbox_feed

log = logging.getLogger(__name__)

PANEL = "PagerDuty"
FAKE_PAGERDUTY: web.AppKey[FakePagerDuty] = web.AppKey("fake_pagerduty", FakePagerDuty)
ACK_ROUTE = "/sandbox/pagerduty/acknowledge"
DEMO_SCHEDULES = {"backend": "PS_BACKEND", "platform": "PS_PLATFORM"}


def demo_config(config: IncidentConfig) -> IncidentConfig:
    """Fill in the fake's seed (service, policy, schedules) where the config names none."""
    own = config.pagerduty
    merged = PagerDutyConfig(
        service_id=own.service_id or "PSVC_MAIN",
        escalation_policy_id=own.escalation_policy_id or "PEP_MAIN",
        schedules=own.schedules or DEMO_SCHEDULES,
    )
    return config.model_copy(update={"pagerduty": merged})


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _when(t: datetime) -> str:
    epoch = t.timestamp()
    fallback = t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return render_date(str(int(epoch)), "{date_short_pretty} {time}", fallback)


def _name(pd: FakePagerDuty, user_id: str | None) -> str:
    user = pd.users.get(user_id or "")
    return _e(user["name"] if user else user_id or "nobody")


def oncall_html(pd: FakePagerDuty) -> str:
    """Who is on call now at each level, straight from the fake's own rota."""
    now = pd.now()
    rows = []
    for policy in pd.policies.values():
        rows.append(f'<tr><th colspan="3">{_e(policy.name)}</th></tr>')
        for level, targets in enumerate(policy.levels, start=1):
            for kind, target in targets:
                if kind == "user":
                    who, until = _name(pd, target), "always"
                else:
                    schedule = pd.schedules[target]
                    spans = schedule.segments(now, now)
                    who = _name(pd, spans[0][0]) if spans else "nobody"
                    who += f" <small>({_e(schedule.name)})</small>"
                    until = _when(spans[0][2]) if spans else ""
                rows.append(f"<tr><td>L{level}</td><td>{who}</td><td>{until}</td></tr>")
    return (
        '<table class="pd-oncall"><thead><tr><th>Level</th><th>On call now</th>'
        f"<th>Until</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def incidents_html(pd: FakePagerDuty) -> str:
    items = []
    for incident in reversed(list(pd.incidents.values())):
        status = str(incident["status"])
        assignees = ", ".join(_name(pd, a["user"]) for a in incident.get("_assignments") or [])
        line = (
            f"<strong>#{_e(incident['incident_number'])}</strong> {_e(incident['title'])}"
            f' <span class="pd-status pd-{_e(status)}">{_e(status)}</span>'
        )
        if assignees:
            line += f" · level {_e(incident['escalation_level'])}: {assignees}"
        if status == "triggered":
            line += (
                f'<form data-post="{ACK_ROUTE}">'
                f'<input type="hidden" name="incident_id" value="{_e(incident["id"])}">'
                '<button type="submit">Acknowledge</button></form>'
            )
        items.append(f"<li>{line}</li>")
    if not items:
        return "<p>No PagerDuty incidents yet. Declare a SEV1 or SEV2 to page.</p>"
    return f'<ul class="pd-incidents">{"".join(items)}</ul>'


def panel_html(pd: FakePagerDuty) -> str:
    return (
        "<h2>PagerDuty (fake)</h2>"
        f"<h3>On call</h3>{oncall_html(pd)}"
        "<p><small>Ask the bot: <code>/oncall</code>, <code>/oncall backend</code></small></p>"
        f"<h3>Incidents</h3>{incidents_html(pd)}"
    )


def mount_pagerduty_panel(app: web.Application, pd: FakePagerDuty, slack: FakeSlack) -> None:
    """The panel's live updates and its Acknowledge route (after mount_sandbox_ui)."""
    feed = sandbox_feed(app)
    app[FAKE_PAGERDUTY] = pd

    def publish(*_: Any) -> None:
        feed.publish({"type": "panel", "panel": PANEL, "html": panel_html(pd)})

    unsubscribe = pd.subscribe(publish)

    async def stop(_: web.Application) -> None:
        unsubscribe()

    async def acknowledge(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return web.json_response({"ok": False, "error": "Expected a JSON object."}, status=400)
        incident = pd.incidents.get(str(body.get("incident_id") or ""))
        if incident is None:
            return web.json_response({"ok": False, "error": "No such PagerDuty incident."})
        if incident["status"] != "triggered":
            return web.json_response(
                {"ok": False, "error": f"That incident is already {incident['status']}."}
            )
        responder = _responder(pd, slack, str(body.get("user") or ""), incident)
        if responder is None:
            return web.json_response({"ok": False, "error": "Nobody is assigned to acknowledge."})
        try:
            await pd.acknowledge(incident["id"], responder)
        except aiohttp.ClientError as exc:  # the webhook could not reach the bot
            log.warning("sandbox: PagerDuty webhook not delivered: %s", exc)
        delivered = pd.webhook_deliveries[-1][1] if pd.webhook_deliveries else None
        note = "" if delivered is None or delivered < 300 else f" (the bot answered {delivered})"
        message = f"Acknowledged #{incident['incident_number']} as {_name(pd, responder)}{note}."
        return web.json_response({"ok": True, "message": html.unescape(message)})

    app.router.add_post(ACK_ROUTE, acknowledge)
    app.on_cleanup.append(stop)


def _responder(
    pd: FakePagerDuty, slack: FakeSlack, slack_user: str, incident: dict[str, Any]
) -> str | None:
    """The PagerDuty user acting: the sandbox user's, by email, else the first assignee."""
    person = slack.users.get(slack_user)
    email = (person.email or "").lower() if person else ""
    for uid, user in pd.users.items():
        if email and str(user.get("email", "")).lower() == email:
            return uid
    assignments = incident.get("_assignments") or []
    return str(assignments[0]["user"]) if assignments else None

"""The sandbox's "Alerts" side panel: fire a demo Prometheus alert at the bot.

Each button sends an Alertmanager webhook payload (version 4), over real HTTP with the
bearer token, to the bot's own `/alerts/alertmanager` route: exactly what a real
Alertmanager would send. **Fire** makes the alert firing, **Resolve** sends it resolved
(endsAt in the past). ServiceDown and DatabaseConnectionFailures match the built-in rules
(SEV1, SEV2: an incident with its runbook, and a page); DiskAlmostFull matches no rule, so
it is posted in #incidents with a **Declare incident** button.

The sandbox also reads #alerts as an alert channel. Its HighCPU buttons have the
sandbox's "Alertmanager" app post Alertmanager's Slack notification there
(`[FIRING:1] HighCPU web`), which the bot reads as the same alert. Alert channels read
only what bots and apps post: the same line typed by a person declares nothing.
"""

from __future__ import annotations

import html
import json
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import aiohttp
from aiohttp import web

from bot.core.config import AlertChannel, IncidentConfig
from bot.fakes.slack import FakeSlack

log = logging.getLogger(__name__)

PANEL = "Alerts"
FIRE_ROUTE = "/sandbox/alerts/fire"
POST_ROUTE = "/sandbox/alerts/post"  # the Alertmanager app posts in #alerts
ALERT_CHANNEL = "alerts"
SLACK_ALERT = "HighCPU"
SLACK_GROUP = "web"  # the value of its group label, as Alertmanager's title shows it


@dataclass(frozen=True)
class Demo:
    service: str
    summary: str
    description: str
    expr: str


DEMOS: dict[str, Demo] = {
    "ServiceDown": Demo(
        "checkout",
        "checkout is down",
        "checkout-api on 10.0.3.7:8080 has not answered its health check for 1 minute.",
        'up{job="checkout"} == 0',
    ),
    "DatabaseConnectionFailures": Demo(
        "orders",
        "orders cannot connect to its database",
        "Connections to postgres-primary fail at 4.2 a second.",
        "sum by (service) (rate(db_connection_errors_total[5m])) > 0.1",
    ),
    "DiskAlmostFull": Demo(
        "logging",
        "/var/log on log-1 is 96% full",
        "At this rate the volume fills within the hour.",
        "node_filesystem_avail_bytes / node_filesystem_size_bytes < 0.05",
    ),
}


def sandbox_token() -> str:
    """The ALERTMANAGER_TOKEN the sandbox gives its bot (the panel sends it back)."""
    return "am-sandbox-" + secrets.token_hex(8)


def demo_config(config: IncidentConfig) -> IncidentConfig:
    """#alerts is an alert channel in the sandbox unless the config names its own."""
    if config.alerts.channels:
        return config
    alerts = config.alerts.model_copy(update={"channels": [AlertChannel(channel=ALERT_CHANNEL)]})
    return config.model_copy(update={"alerts": alerts})


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _buttons(route: str, name: str, suffix: str = "") -> str:
    return "".join(
        f'<form data-post="{route}" style="display:inline-block;margin-right:6px">'
        f'<input type="hidden" name="alert" value="{_e(name)}">'
        f'<input type="hidden" name="status" value="{status}">'
        f'<button type="submit" aria-label="{label} {_e(name)}{suffix}">{label}</button></form>'
        for status, label in (("firing", "Fire"), ("resolved", "Resolve"))
    )


def _rule_note(config: IncidentConfig, name: str) -> str:
    rule = next((r for r in config.alerts.rules if r.alertname == name), None)
    if rule is None:
        return "no rule: posted with a Declare button"
    return f"rule: {_e(rule.severity)}" + (f", runbook {_e(rule.runbook)}" if rule.runbook else "")


def panel_html(config: IncidentConfig) -> str:
    items = [
        f"<li><strong>{_e(name)}</strong> <small>{_e(demo.service)}</small><br>"
        f"<small>{_rule_note(config, name)}</small><br>{_buttons(FIRE_ROUTE, name)}</li>"
        for name, demo in DEMOS.items()
    ]
    in_slack = (
        f"<li><strong>{SLACK_ALERT}</strong> <small>{SLACK_GROUP}, in #{ALERT_CHANNEL}</small><br>"
        f"<small>{_rule_note(config, SLACK_ALERT)}; the Alertmanager app posts its Slack "
        f"notification</small><br>{_buttons(POST_ROUTE, SLACK_ALERT, f' in #{ALERT_CHANNEL}')}"
        "</li>"
    )
    return (
        "<h2>Alerts (Prometheus)</h2>"
        "<p>Send an Alertmanager webhook to the bot's <code>/alerts/alertmanager</code>.</p>"
        f'<ul class="alert-demos">{"".join(items)}{in_slack}</ul>'
        f"<p><small>#{ALERT_CHANNEL} reads alert notifications posted by bots and apps; a "
        "person typing one there declares nothing.</small></p>"
    )


def slack_notification(status: str) -> str:
    """Alertmanager's Slack notification for the demo alert (title, then its fields)."""
    head = "[FIRING:1]" if status == "firing" else "[RESOLVED]"
    return (
        f"{head} {SLACK_ALERT} {SLACK_GROUP}\n"
        "*Summary:* web-1 CPU above 90% for 10 minutes\n"
        f"*service:* {SLACK_GROUP}"
    )


def payload(name: str, status: str, *, started: float, now: float) -> dict[str, object]:
    """An Alertmanager webhook body for one demo alert."""
    demo = DEMOS[name]
    labels = {"alertname": name, "service": demo.service, "severity": "critical"}
    ends = "0001-01-01T00:00:00Z" if status == "firing" else _rfc3339(now - 1)
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{name}", service="{demo.service}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "incident-bot",
        "groupLabels": {"alertname": name, "service": demo.service},
        "commonLabels": labels,
        "commonAnnotations": {"summary": demo.summary},
        "externalURL": "http://alertmanager.sandbox:9093",
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": {"summary": demo.summary, "description": demo.description},
                "startsAt": _rfc3339(started),
                "endsAt": ends,
                "generatorURL": "http://prometheus.sandbox:9090/graph?g0.expr="
                + quote(demo.expr, safe=""),
                "fingerprint": f"sandbox-{name.lower()}",
            }
        ],
    }


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _choice(body: object, names: Iterable[str]) -> tuple[str, str] | web.Response:
    """(alert, status) from a panel form, or the 400 that says what to pick."""
    names = list(names)
    if not isinstance(body, dict):
        return web.json_response({"ok": False, "error": "Expected a JSON object."}, status=400)
    name, status = str(body.get("alert") or ""), str(body.get("status") or "")
    if name not in names or status not in ("firing", "resolved"):
        return web.json_response(
            {"ok": False, "error": f"Pick one of {', '.join(names)}, firing or resolved."},
            status=400,
        )
    return name, status


async def _form(request: web.Request) -> object:
    try:
        return await request.json()
    except ValueError:
        return None


def mount_alerts_panel(app: web.Application, *, base_url: str, token: str, fake: FakeSlack) -> None:
    """The panel's routes: POST {alert, status} -> a webhook to the bot's own route, or
    (POST_ROUTE) the Alertmanager app's notification in #alerts."""
    started: dict[str, float] = {}
    alertmanager = fake.add_bot("Alertmanager")

    async def post(request: web.Request) -> web.Response:
        choice = _choice(await _form(request), [SLACK_ALERT])
        if isinstance(choice, web.Response):
            return choice
        _, status = choice
        await fake.post_as_bot(alertmanager, ALERT_CHANNEL, slack_notification(status))
        return web.json_response(
            {
                "ok": True,
                "message": f"The Alertmanager app posted {SLACK_ALERT} {status} in "
                f"#{ALERT_CHANNEL}.",
            }
        )

    async def fire(request: web.Request) -> web.Response:
        choice = _choice(await _form(request), DEMOS)
        if isinstance(choice, web.Response):
            return choice
        name, status = choice
        now = time.time()
        if status == "firing":
            started.setdefault(name, now)
        data = payload(name, status, started=started.get(name, now), now=now)
        if status == "resolved":
            started.pop(name, None)
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    f"{base_url}/alerts/alertmanager",
                    data=json.dumps(data),
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json",
                        "User-Agent": "Alertmanager/0.25.0 (sandbox panel)",
                    },
                    timeout=aiohttp.ClientTimeout(total=5),
                ) as answer,
            ):
                code = answer.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("sandbox: alert not delivered: %s", exc)
            return web.json_response({"ok": False, "error": f"The bot did not answer ({exc})."})
        if code != 200:
            return web.json_response({"ok": False, "error": f"The bot answered HTTP {code}."})
        return web.json_response(
            {"ok": True, "message": f"{name} {status}: sent to /alerts/alertmanager (HTTP 200)."}
        )

    app.router.add_post(FIRE_ROUTE, fire)
    app.router.add_post(POST_ROUTE, post)

"""The sandbox's "Alerts" side panel: fire a demo Prometheus alert at the bot.

Each button sends an Alertmanager webhook payload (version 4), over real HTTP with the
bearer token, to the bot's own `/alerts/alertmanager` route: exactly what a real
Alertmanager would send. **Fire** makes the alert firing, **Resolve** sends it resolved
(endsAt in the past). ServiceDown and DatabaseConnectionFailures match the built-in rules
(SEV1, SEV2: an incident with its runbook, and a page); DiskAlmostFull matches no rule, so
it is posted in #incidents with a **Declare incident** button.

The sandbox also reads #alerts as an alert channel: type `[FIRING:1] HighCPU web` there
(Alertmanager's Slack notification title) and the bot handles it the same way.
"""

from __future__ import annotations

import html
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import aiohttp
from aiohttp import web

from bot.config import IncidentConfig

log = logging.getLogger(__name__)

PANEL = "Alerts"
FIRE_ROUTE = "/sandbox/alerts/fire"
ALERT_CHANNEL = "alerts"


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
    alerts = config.alerts.model_copy(update={"channels": [ALERT_CHANNEL]})
    return config.model_copy(update={"alerts": alerts})


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def panel_html(config: IncidentConfig) -> str:
    rules = {r.alertname: r for r in config.alerts.rules}
    items = []
    for name, demo in DEMOS.items():
        rule = rules.get(name)
        what = (
            f"rule: {_e(rule.severity)}" + (f", runbook {_e(rule.runbook)}" if rule.runbook else "")
            if rule
            else "no rule: posted with a Declare button"
        )
        forms = "".join(
            f'<form data-post="{FIRE_ROUTE}" style="display:inline-block;margin-right:6px">'
            f'<input type="hidden" name="alert" value="{_e(name)}">'
            f'<input type="hidden" name="status" value="{status}">'
            f'<button type="submit" aria-label="{label} {_e(name)}">{label}</button></form>'
            for status, label in (("firing", "Fire"), ("resolved", "Resolve"))
        )
        items.append(
            f"<li><strong>{_e(name)}</strong> <small>{_e(demo.service)}</small><br>"
            f"<small>{what}</small><br>{forms}</li>"
        )
    return (
        "<h2>Alerts (Prometheus)</h2>"
        "<p>Send an Alertmanager webhook to the bot's <code>/alerts/alertmanager</code>.</p>"
        f'<ul class="alert-demos">{"".join(items)}</ul>'
        f"<p><small>Or post <code>[FIRING:1] HighCPU web</code> in #{ALERT_CHANNEL}.</small></p>"
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


def mount_alerts_panel(app: web.Application, *, base_url: str, token: str) -> None:
    """The panel's route: POST {alert, status} -> a webhook to the bot's own route."""
    started: dict[str, float] = {}

    async def fire(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return web.json_response({"ok": False, "error": "Expected a JSON object."}, status=400)
        name, status = str(body.get("alert") or ""), str(body.get("status") or "")
        if name not in DEMOS or status not in ("firing", "resolved"):
            return web.json_response(
                {"ok": False, "error": f"Pick one of {', '.join(DEMOS)}, firing or resolved."},
                status=400,
            )
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

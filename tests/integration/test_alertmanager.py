"""A real Prometheus Alertmanager (Debian's prometheus-alertmanager) on loopback, sending
its webhook to the real app: an alert posted to its v2 API declares the incident; the
same alert posted with endsAt in the past moves it to monitoring."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.core.config import IncidentConfig
from tests.integration.harness import Harness, eventually, start
from tests.sandbox_process import free_port

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
TOKEN = "am-real-token"

pytestmark = pytest.mark.skipif(
    BINARY is None, reason="prometheus-alertmanager is not installed (tests/run.sh installs it)"
)


@pytest.fixture
async def h(redis_url: str) -> AsyncIterator[Harness]:
    config = IncidentConfig.model_validate({"alerts": {"update_every": 0.2}})
    harness = await start(redis_url, config, alertmanager_token=TOKEN)
    yield harness
    await harness.stop()


@pytest.fixture
def alertmanager(h: Harness) -> Iterator[str]:
    """Alertmanager with a webhook receiver pointing at the app; its base URL."""
    assert BINARY
    workdir = Path(tempfile.mkdtemp(prefix="test-alertmanager-"))
    config = workdir / "alertmanager.yml"
    config.write_text(
        f"""
route:
  receiver: incident-bot
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: incident-bot
    webhook_configs:
      - url: {h.url}/alerts/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {TOKEN}
"""
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            BINARY,
            f"--config.file={config}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip port: a single, loopback-only instance
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(workdir, ignore_errors=True)


def _at(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def test_alertmanager_declares_then_resolves_through_its_webhook(
    h: Harness, alertmanager: str
) -> None:
    async with aiohttp.ClientSession() as http:

        async def ready() -> bool:
            try:
                async with http.get(f"{alertmanager}/-/ready") as r:
                    return r.status == 200
            except aiohttp.ClientError:
                return False

        await eventually(ready, settle=False)

        async def post_alert(ends: timedelta | None) -> None:
            alert = {
                "labels": {
                    "alertname": "DatabaseConnectionFailures",
                    "service": "orders",
                    "instance": "10.0.0.9:5432",
                },
                "annotations": {
                    "summary": "orders cannot connect to its database",
                    "description": "connection refused 4.2 times a second",
                },
                "generatorURL": "http://prometheus:9090/graph?g0.expr=db_errors",
                "startsAt": _at(timedelta(minutes=-2)),
            }
            if ends is not None:
                alert["endsAt"] = _at(ends)
            async with http.post(f"{alertmanager}/api/v2/alerts", json=[alert]) as r:
                assert r.status == 200, await r.text()

        await post_alert(None)

        async def declared() -> object:
            found = await h.store.recent_incidents()
            return found[0] if found and found[0].channel_id else None

        incident = await eventually(declared, settle=False)  # its webhook
        assert (incident.severity, incident.alertname, incident.runbook, incident.source) == (
            "SEV2",
            "DatabaseConnectionFailures",
            "database-down",
            "alert",
        )
        channel = incident.channel_id

        def said(text: str) -> bool:
            return any(text in m.text + json.dumps(m.blocks) for m in h.fake.messages[channel])

        await eventually(lambda: said("orders cannot connect to its database"))
        await eventually(lambda: said("`instance=10.0.0.9:5432`"))

        await post_alert(timedelta(seconds=-1))  # resolved

        async def monitoring() -> bool:
            current = await h.store.get(incident.id)
            return current is not None and current.status == "monitoring"

        await eventually(monitoring, settle=False)  # its webhook
        await eventually(lambda: said("have resolved"))
        assert len(await h.store.recent_incidents()) == 1

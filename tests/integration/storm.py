"""A storm of Alertmanager POSTs with `instance` labels never seen before, sent from a
process of its own (tests/integration/test_alert_storms.py, bench/alerts.py).

Each POST carries `per_post` alerts of 25 alert names no rule matches, each with a fresh
instance, the labels a Kubernetes alert carries and a runbook-sized description; every
other POST resolves the one before it; every third is grouped by a fresh `node`, so its
groups are new too.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import aiohttp

NAMES = [f"Storm{k:02d}" for k in range(25)]
DESCRIPTION = "Pod is not ready. " * 150  # ~2.7 KB: runbook text pasted into the rule


def body(post: int, status: str, per_post: int) -> bytes:
    alerts: list[dict[str, Any]] = []
    for i in range(per_post):
        name = NAMES[i % len(NAMES)]
        instance = f"10.{post % 250}.{i % 250}.{post // 250}:{9000 + i}"
        alerts.append(
            {
                "status": status,
                "labels": {
                    "alertname": name,
                    "instance": instance,
                    "pod": f"api-{post}-{i}",
                    "namespace": "prod",
                    "container": "api",
                    "job": "kube-state-metrics",
                    "node": f"node-{post}",
                    "uid": f"{post:08x}-{i:04x}-4000-8000-{post * per_post + i:012x}",
                },
                "annotations": {"summary": f"{name} on {instance}", "description": DESCRIPTION},
                "startsAt": "2026-11-22T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
                "fingerprint": f"{post:x}-{i:x}",
            }
        )
    group = {"node": f"node-{post}"} if post % 3 == 0 else {"namespace": "prod"}
    return json.dumps(am_payload(group, alerts)).encode()


def am_payload(group: dict[str, str], alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """An Alertmanager webhook payload (version 4) of one group's alerts."""
    return {
        "version": "4",
        "groupKey": "{}:" + json.dumps(group, sort_keys=True),
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "receiver": "incident-bot",
        "groupLabels": group,
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }


def send(
    url: str, token: str, seconds: float, concurrency: int, per_post: int
) -> tuple[int, int, dict[int, int]]:
    """POST for `seconds`, `concurrency` at a time: (POSTs, alerts, answers by status)."""

    async def run() -> tuple[int, int, dict[int, int]]:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        statuses: Counter[int] = Counter()
        end = time.monotonic() + seconds
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as http:

            async def worker(w: int) -> None:
                post = w
                while time.monotonic() < end:
                    for status in ("firing", "resolved"):
                        data = body(post, status, per_post)
                        async with http.post(url, data=data, headers=headers) as r:
                            statuses[r.status] += 1
                    post += concurrency

            await asyncio.gather(*(worker(w) for w in range(concurrency)))
        posts = sum(statuses.values())
        return posts, posts * per_post, dict(statuses)

    return asyncio.run(run())


async def storm(
    url: str, token: str, *, seconds: float, concurrency: int = 8, per_post: int = 250
) -> tuple[int, int, dict[int, int]]:
    """`send` in a process of its own, so the app's loop only serves."""
    with ProcessPoolExecutor(1) as pool:
        return await asyncio.get_running_loop().run_in_executor(
            pool, send, url, token, seconds, concurrency, per_post
        )

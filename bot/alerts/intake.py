"""What arrives at the Alertmanager webhook: its payload validated into an `AlertBatch`
(one `GroupUpdate` per alert group), the bearer token checked, and a payload's groups
capped. Pure functions: no I/O.

Alert text is clipped as it is read (label and annotation values, their number), so one
stored alert has a known size whatever a sender puts in it (bot/core/store/alerts.py's bound).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.core.models import AlertInstance

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024 * 1024  # a payload of thousands of alerts is a few MB
# one stored alert: at most this many labels and annotations, each value clipped
MAX_LABELS, LABEL_CHARS = 32, 256
MAX_ANNOTATIONS, ANNOTATION_CHARS = 8, 1200


class InvalidAlerts(ValueError):
    """A payload we refuse (HTTP 400); the message says why, for the sender's log."""


class OverRate(Exception):
    """The sender is over `alerts.webhook_rate` (HTTP 429): it may send again in `wait`
    seconds."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"over the rate for {wait:.1f} s")
        self.wait = wait


class QueueFull(Exception):
    """The stream holds `alerts.max_queued_mb` not yet applied (HTTP 503): send again
    later."""


class _AmAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    # Alertmanager's own field names; RFC 3339 with a zone (a naive time has no epoch)
    startsAt: AwareDatetime | None = None
    endsAt: AwareDatetime | None = None
    generatorURL: str = ""
    fingerprint: str = ""

    @field_validator("labels")
    @classmethod
    def _alertname(cls, labels: dict[str, str]) -> dict[str, str]:
        if not labels.get("alertname", "").strip():
            raise ValueError("an alert needs an alertname label")
        return labels


class AlertmanagerPayload(BaseModel):
    """Alertmanager's webhook body (version 4). Unknown fields are ignored, so newer
    Alertmanagers that add fields still work."""

    model_config = ConfigDict(extra="ignore")

    version: str
    status: Literal["firing", "resolved"] | None = None
    receiver: str = ""
    groupKey: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[_AmAlert] = Field(min_length=1)


class GroupUpdate(BaseModel):
    """What one batch says about one alert group."""

    key: str  # "<alertname>|<group label values>": the group's identity
    alertname: str
    title: str
    labels: dict[str, str] = Field(default_factory=dict)
    alerts: list[AlertInstance] = Field(default_factory=list)
    # a complete report (a Slack message counts all the group's alerts): alerts whose
    # fingerprint has this prefix and that are not listed have resolved
    complete_prefix: str = ""
    link: str = ""


class AlertBatch(BaseModel):
    """One accepted delivery (a webhook payload or a Slack message), as stored."""

    source: Literal["alertmanager", "slack"]
    received_at: float
    groups: list[GroupUpdate]

    @property
    def count(self) -> int:
        return sum(len(g.alerts) for g in self.groups)


def group_key(alertname: str, group_labels: Mapping[str, str]) -> tuple[str, str]:
    """(key, title) of an alert group: the alert name and the group label values, sorted
    by label name as Alertmanager's Slack titles show them."""
    values = [v for k, v in sorted(group_labels.items()) if k != "alertname" and v]
    return f"{alertname}|{' '.join(values)}", " ".join([alertname, *values])


def group_id(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()[:20]


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    ts = value.timestamp()
    return ts if ts > 0 else None  # Alertmanager's "0001-01-01T00:00:00Z" means unset


def _fingerprint(labels: Mapping[str, str]) -> str:
    raw = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


def parse_alertmanager(body: bytes, *, now: float) -> AlertBatch:
    """Validate a webhook body into a batch; InvalidAlerts says what is wrong.

    pydantic reads the JSON itself: bad UTF-8, lone surrogates, deep nesting and wrong
    shapes all come out as one ValidationError (json.loads would raise RecursionError)."""
    try:
        payload = AlertmanagerPayload.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise InvalidAlerts(
                f"the body is not JSON ({first['msg'].removeprefix('Invalid JSON: ')})"
            ) from None
        if first["type"] == "model_type":
            raise InvalidAlerts(
                "the body must be a JSON object (Alertmanager webhook, version 4)"
            ) from None
        problems = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err["loc"]) or "(body)"
            problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        raise InvalidAlerts("not an Alertmanager payload: " + "; ".join(problems) + more) from None
    if payload.version != "4":
        log.info("alertmanager payload version %s; reading it as version 4", payload.version)
    # The batch is built as plain data and validated in one go (pydantic's core does it
    # faster than one model at a time, and faster than model_construct).
    groups: dict[str, dict[str, Any]] = {}  # by alert name: its group
    group_labels = clip_values(payload.groupLabels, MAX_LABELS, LABEL_CHARS)
    for a in payload.alerts:
        alertname = a.labels["alertname"].strip()[:LABEL_CHARS]
        group = groups.get(alertname)
        if group is None:
            key, title = group_key(alertname, group_labels)
            labels = {k: v for k, v in group_labels.items() if k != "alertname"}
            group = groups[alertname] = {
                "key": key,
                "alertname": alertname,
                "title": title,
                "labels": labels,
                "alerts": [],
                "link": payload.externalURL,
            }
        group["alerts"].append(
            {
                "fingerprint": (a.fingerprint or _fingerprint(a.labels))[:64],
                "status": a.status,
                "alertname": alertname,
                "labels": {
                    **clip_values(a.labels, MAX_LABELS, LABEL_CHARS),
                    "alertname": alertname,
                },
                "annotations": clip_values(a.annotations, MAX_ANNOTATIONS, ANNOTATION_CHARS),
                "starts_at": _epoch(a.startsAt),
                "ends_at": _epoch(a.endsAt),
                "generator_url": a.generatorURL[:2000] or None,
            }
        )
    return AlertBatch.model_validate(
        {"source": "alertmanager", "received_at": now, "groups": list(groups.values())}
    )


def clip_values(values: Mapping[str, str], most: int, chars: int) -> dict[str, str]:
    """At most `most` entries (by name), each value at most `chars` characters."""
    return {k[:chars]: v[:chars] for k, v in sorted(values.items())[:most]}


def cap_groups(
    batch: AlertBatch, limit: int, rank: Callable[[GroupUpdate], int]
) -> tuple[AlertBatch, int]:
    """At most `limit` groups of one payload, the lowest `rank` first (rules whose
    severity pages, then other rules, then unmatched): the batch kept and how many groups
    were left out."""
    if len(batch.groups) <= limit:
        return batch, 0
    kept = sorted(batch.groups, key=rank)[:limit]
    return batch.model_copy(update={"groups": kept}), len(batch.groups) - limit


def sender_key(token: str, peer: str | None) -> str:
    """Who is sending, for the webhook's rate: the token it proved (hashed: never stored)
    and the address it connects from."""
    return f"{_token_id(token)}:{peer or '-'}"


@functools.lru_cache(maxsize=4)  # the configured token: hashed once, not once a POST
def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def bearer_ok(header: str | None, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time. The header is the
    sender's bytes as aiohttp decoded them (undecodable ones as surrogates): encoded back
    the same way, so any header compares, and only the right token matches."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "surrogateescape"), token.encode()
    )

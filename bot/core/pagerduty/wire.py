"""What PagerDuty's JSON answers become: the REST API's incident, user and on-call objects
read into the models of models.py (pure: no I/O, no pdpyras)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.core.pagerduty.models import OnCallEntry, PagerDutyUser, PDIncident

JSON = dict[str, Any]


def epoch(value: str | None) -> int | None:
    if not value:
        return None
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def user(ref: JSON) -> PagerDutyUser:
    """A user from a full user object or a user_reference (whose name is its summary)."""
    return PagerDutyUser(
        id=ref["id"],
        name=ref.get("name") or ref.get("summary") or ref["id"],
        email=ref.get("email"),
    )


def incident(body: JSON, level: int | None = None) -> PDIncident:
    # `escalation_level` is read from the incident when PagerDuty sends it; `level` is what
    # we just set, for when it does not.
    return PDIncident(
        id=body["id"],
        status=body["status"],
        escalation_level=body.get("escalation_level") or level or 1,
        assignees=[user(a["assignee"]) for a in body.get("assignments") or []],
        acknowledged_by=[user(a["acknowledger"]) for a in body.get("acknowledgements") or []],
        html_url=body.get("html_url"),
        incident_number=body.get("incident_number"),
        incident_key=body.get("incident_key"),
        service_id=(body.get("service") or {}).get("id"),
    )


def oncall(entry: JSON) -> OnCallEntry:
    schedule = entry.get("schedule") or None
    return OnCallEntry(
        level=entry["escalation_level"],
        user=user(entry["user"]),
        schedule_id=schedule["id"] if schedule else None,
        schedule_name=(schedule.get("summary") or schedule.get("name")) if schedule else None,
        policy_id=entry["escalation_policy"]["id"],
        policy_name=entry["escalation_policy"].get("summary"),
        start=epoch(entry.get("start")),
        end=epoch(entry.get("end")),
    )

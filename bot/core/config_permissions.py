"""Who may do what (enforced in one place, bot/core/policy.py): the `permissions:` section
of the procedure file, and the rate (`10/1m`) it and the alerts' webhook are limited by.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.core.config_names import NO_INCIDENT_ACTIONS, Principals
from bot.core.durations import Duration, format_duration


class Strict(BaseModel):
    """Every section: unknown keys are errors, and a loaded config never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(.+?)\s*$")


class RateLimit(Strict):
    """`10/1m`: at most `count` in any `per`, in bursts (GCRA: then one every per/count)."""

    count: int = Field(gt=0, description="how many")
    per: Duration = Field(description="in how long")

    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        if isinstance(data, str):
            match = _RATE.match(data)
            if not match:
                raise ValueError(f"{data!r} is not a rate like 10/1m (a count per a duration)")
            return {"count": int(match.group(1)), "per": match.group(2)}
        return data

    def __str__(self) -> str:
        return f"{self.count}/{format_duration(self.per)}"


def _who(principal: str, what: str) -> Any:
    """A permission's field: its default principal and what it allows."""
    return Field(default=[principal], description=what)


class PermissionsConfig(Strict):
    """Who may do what inside an incident. Enforced in one place, bot/core/policy.py; the
    defaults and the reasons for them are in docs/permissions.md."""

    # what stops paging and tells everyone it is over: the people accountable for it
    resolve: Principals = _who("roles", "`/incident resolve`, status resolved, an alert's Resolve")
    lower_severity: Principals = _who("roles", "`/incident severity` to a milder one")
    # the safe direction: whoever sees it is worse must be able to say so (as declaring)
    raise_severity: Principals = _who("channel_members", "... to a worse one (it may page)")
    status: Principals = _who(
        "channel_members", "investigating / identified / monitoring (also in the update form)"
    )
    # the commander role while someone holds it; and becoming commander while nobody does
    # (an alert or a drill declares without one): the first responder, from wherever they
    # see the incident (they are invited into its channel as they take command)
    hand_over: Principals = _who("roles", "`/incident commander @x` while someone commands")
    take_command: Principals = _who(
        "anyone", "... while nobody does (the refusal's Take command button too)"
    )
    # the other roles: a role grants what `roles` grants, so only role holders hand them out
    assign_role: Principals = _who("roles", "`/incident role tech-lead @x` and the other roles")
    snooze: Principals = _who("roles", "the update reminder's Snooze")
    escalate: Principals = _who("channel_members", "`/incident escalate`: page the next level")
    # whoever is helping, also from a public channel they view without having joined (a
    # click is bound to the incident all the same)
    runbook: Principals = _who("anyone", "post a runbook, tick its steps")
    stakeholder_update: Principals = _who("roles", "draft and send a stakeholder update")
    close_private_followups: Principals = _who(
        "channel_members", "Done on a private incident's follow-up"
    )
    doctor: Principals = _who(
        "anyone", "`/incident doctor` (`anyone`, `S…` groups or `U…` users only)"
    )
    declare_per_user: RateLimit = Field(
        default_factory=lambda: RateLimit(count=10, per=timedelta(minutes=1)),
        description="declares per person (commands, forms, buttons, drills), `N/duration`: "
        "bursts of N, then one every duration/N, across replicas",
    )

    @field_validator(*NO_INCIDENT_ACTIONS)
    @classmethod
    def _incidentless(cls, principals: list[str]) -> list[str]:
        words = [p for p in principals if p in ("channel_members", "roles")]
        if words:
            raise ValueError(
                f"{', '.join(words)} means nothing here (it runs outside any incident); "
                "use anyone, a user group ID (S…) or user IDs (U…)"
            )
        return principals

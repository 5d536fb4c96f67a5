"""The names the configuration may use for people and places: Slack IDs (U…/W… users,
S… user groups, C…/G… channels, B…/A… bots and apps), channel names, role names,
PagerDuty IDs and the permission principals; one grammar each, shared by the models.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

# Who a step or an audience names: a Slack ID (U…/W… user, S… user group, C…/G… channel),
# a channel by #name, or (escalation targets only) a role of the incident, by name.
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
CHANNEL_NAME = re.compile(r"^#?[a-z0-9][a-z0-9_-]{0,79}$")
ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
TEMPLATE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
PD_ID = re.compile(r"^P[A-Z0-9_]{2,}$")

TargetKind = Literal["user", "group", "channel", "role"]


def target_kind(target: str) -> TargetKind:
    """What an escalation target or stakeholder destination names (see the patterns above).
    A bare lowercase word is a role for escalation targets and a channel name for
    stakeholder destinations; `#name` is always a channel."""
    if USER_ID.match(target):
        return "user"
    if GROUP_ID.match(target):
        return "group"
    if CHANNEL_ID.match(target) or target.startswith("#"):
        return "channel"
    return "role"


def role_name(text: str) -> str:
    return text.strip().lower().replace("-", "_")


def escalation_target(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    value = value.strip()
    if USER_ID.match(value) or GROUP_ID.match(value) or CHANNEL_ID.match(value):
        return value
    if value.startswith("#") and CHANNEL_NAME.match(value):
        return value
    if ROLE_NAME.match(role_name(value)):
        return role_name(value)
    raise PydanticCustomError(
        "target",
        "{value} is not a Slack ID (U… user, S… user group, C… channel), a #channel or a role name",
        {"value": repr(value)},
    )


def destination(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    value = value.strip()
    if USER_ID.match(value) or GROUP_ID.match(value) or CHANNEL_ID.match(value):
        return value
    if CHANNEL_NAME.match(value):
        return value.lstrip("#")
    raise PydanticCustomError(
        "destination",
        "{value} is not a channel name or ID, a user group ID (S…) or a user ID (U…)",
        {"value": repr(value)},
    )


EscalationTarget = Annotated[str, BeforeValidator(escalation_target)]
Destination = Annotated[str, BeforeValidator(destination)]

SENDER_ID = re.compile(r"^[BA][A-Z0-9]{2,}$")

# A principal: `anyone`, `channel_members` (of the incident's channel), `roles` (whoever
# holds one of the incident's roles right now), a user group (S…) or a user (U…/W…).
PRINCIPAL_WORDS = ("anyone", "channel_members", "roles")
# actions that name no incident: only principals that need none make sense for them
NO_INCIDENT_ACTIONS = ("doctor",)


def principal(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    value = value.strip()
    word = value.lower().replace("-", "_")
    if word in PRINCIPAL_WORDS:
        return word
    if USER_ID.match(value) or GROUP_ID.match(value):
        return value
    raise PydanticCustomError(
        "principal",
        "{value} is not anyone, channel_members, roles, a user group ID (S…) or a user ID (U…)",
        {"value": repr(value)},
    )


Principal = Annotated[str, BeforeValidator(principal)]
Principals = Annotated[list[Principal], Field(min_length=1)]

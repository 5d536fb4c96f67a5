"""An incident's roles: who may be given one, and the change itself. `Incidents.assign_role`
applies it for `/incident commander`, `/incident role`, *Take command* and the card's
roles form alike."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import blocks.mrkdwn as mk
from blocks.common import role_title
from blocks.mrkdwn import Mrkdwn, md
from bot.core.models import Incident, TimelineEntry
from bot.core.slack import Slack, SlackError
from bot.incidents.errors import IncidentError

log = logging.getLogger(__name__)

ANYONE = "*"  # `held_by` when the change does not depend on who holds the role now


async def check_person(slack: Slack, user: str) -> None:
    """Refuse a role for someone who cannot respond: a user Slack does not know, a
    deactivated one, an app. Slack not answering does not hold the assignment up."""
    try:
        info = await slack.user_info(user)
    except SlackError as exc:
        if exc.code == "user_not_found":
            raise IncidentError(
                md("Slack knows no user `{}`: pick someone in this workspace.", user)
            ) from exc
        log.warning("user not looked up", extra={"user": user, "error": exc.code})
        return
    if info.get("deleted"):
        raise IncidentError(md("{} is deactivated: pick someone who can respond.", mk.user(user)))
    if info.get("is_bot"):
        raise IncidentError(md("{} is an app: pick a person to respond.", mk.user(user)))


def _who(user: str | None) -> Mrkdwn:
    return mk.user(user) if user else md("nobody")


@dataclass
class RoleChange:
    """`by` gives `role` to `user` (None: leaves it unassigned). `held_by`: only while
    that user (None: nobody) still holds it, e.g. the holder a form showed, so a change
    made meanwhile is not undone; ANYONE: whoever holds it."""

    role: str
    user: str | None
    by: str
    at: float
    held_by: str | None = ANYONE
    before: str | None = None  # who held it, once applied

    @property
    def title(self) -> str:
        return role_title(self.role).lower()

    def apply(self, incident: Incident) -> list[TimelineEntry]:
        held = incident.roles.get(self.role)
        if self.held_by is None and held:
            raise IncidentError(md("{} is already the {}.", mk.user(held), self.title))
        if self.held_by not in (ANYONE, held):
            raise IncidentError(
                md(
                    "The {} changed while the form was open (now {}), so it is left as it is.",
                    self.title,
                    _who(held),
                )
            )
        if held == self.user:
            if self.user is None:
                raise IncidentError(md("Nobody is the {}.", self.title))
            raise IncidentError(md("{} is already the {}.", mk.user(self.user), self.title))
        self.before = held
        if self.user is None:
            del incident.roles[self.role]
        else:
            incident.roles[self.role] = self.user
        text = md("{}: {}", role_title(self.role), _who(self.user))
        return [TimelineEntry(at=self.at, actor=self.by, kind="role", text=text)]

    def note(self) -> Mrkdwn:
        """What the channel is told."""
        if self.user is None:
            left = "{} left the *{}* unassigned (was {})."
            return md(left, mk.user(self.by), self.title, _who(self.before))
        return md("{} made {} the *{}*.", mk.user(self.by), mk.user(self.user), self.title)

"""What the incident service refuses or cannot say (bot/incidents/); handlers answer with it."""

from __future__ import annotations


class IncidentError(Exception):
    """A request the rules refuse; the message is shown to the user as is."""


class AlreadyDeclaring(IncidentError):
    """The same declaration (one `key`) is being recorded by another request right now."""


class SetupBusy(Exception):
    """Another set-up of the incident is making its channel right now (or died doing so
    and its lease has not run out yet)."""


class DeclareUncertain(Exception):
    """The store stopped answering while a declaration was being recorded, and cannot say
    whether it took it."""

    def __init__(self, incident_id: str) -> None:
        super().__init__(incident_id)
        self.incident_id = incident_id

"""FakePagerDuty: the account, its REST and Events APIs and webhooks, as one object."""

from __future__ import annotations

from aiohttp import web

from bot.fakes.pagerduty.directory import Directory
from bot.fakes.pagerduty.events import Events


class FakePagerDuty(Events, Directory):
    """In-process PagerDuty REST + Events API v2 + v3 webhook sender (see bot/fakes/pagerduty)."""

    def _routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.get("/abilities", self._abilities),
            web.get("/users", self._list_users),
            web.get("/users/me", self._users_me),
            web.get("/users/{id}", self._get_user),
            web.get("/oncalls", self._oncalls),
            web.get("/schedules", self._list_schedules),
            web.get("/schedules/{id}", self._get_schedule),
            web.get("/escalation_policies/{id}", self._get_policy),
            web.get("/services/{id}", self._get_service),
            web.post("/incidents", self._create_incident),
            web.get("/incidents", self._list_incidents),
            web.get("/incidents/{id}", self._get_incident),
            web.put("/incidents/{id}", self._update_incident),
            web.post("/incidents/{id}/notes", self._add_note),
            web.post("/v2/enqueue", self._enqueue),
        ]

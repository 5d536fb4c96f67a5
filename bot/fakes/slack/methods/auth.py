"""Methods: apps.connections.open, api.test, auth.test, team.info, bots.info."""

from __future__ import annotations

from typing import Any

from bot.fakes.slack.model import BOT_ID
from bot.fakes.slack.wire import Args, SlackError, method
from bot.fakes.slack.workspace import Workspace


class AuthMethods(Workspace):
    """Methods: apps.connections.open, api.test, auth.test, team.info, bots.info."""

    @method("apps.connections.open")
    def _apps_connections_open(self, a: Args) -> dict[str, Any]:
        return {"url": self.socket_mode.open_url(self.base_url)}

    @method("api.test")
    def _api_test(self, a: Args) -> dict[str, Any]:
        if a.opt("error"):
            raise SlackError(a.req("error"), args=a.data)
        return {"args": a.data}

    @method("auth.test")
    def _auth_test(self, a: Args) -> dict[str, Any]:
        return {
            "url": "https://fake.slack.com/",
            "team": "Fake Workspace",
            "user": self.users[self.bot_user_id].name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    @method("team.info")
    def _team_info(self, a: Args) -> dict[str, Any]:
        return {
            "team": {
                "id": self.team_id,
                "name": "Fake Workspace",
                "domain": "fake",
                "email_domain": "example.com",
                "icon": {"image_default": True},
            }
        }

    @method("bots.info")
    def _bots_info(self, a: Args) -> dict[str, Any]:
        bot = self.bots.get(a.opt("bot") or BOT_ID)
        if bot is None:
            raise SlackError("bot_not_found")
        info = {k: v for k, v in self._bot_profile(bot).items() if k != "team_id"}
        if bot.user_id:
            info["user_id"] = bot.user_id
        return {"bot": info}

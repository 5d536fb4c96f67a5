"""FakeSlack: the workspace, its Web API method families, and its humans, as one object."""

from __future__ import annotations

from aiohttp import web

from bot.fakes.slack.methods.auth import AuthMethods
from bot.fakes.slack.methods.chat import ChatMethods
from bot.fakes.slack.methods.conversations import ConversationsMethods
from bot.fakes.slack.methods.files import FilesMethods
from bot.fakes.slack.methods.pins_reactions import PinsReactionsMethods
from bot.fakes.slack.methods.users import UsersMethods
from bot.fakes.slack.methods.views import ViewsMethods
from bot.fakes.slack.server import Server
from bot.fakes.slack.shortcuts import Shortcuts


class FakeSlack(
    Shortcuts,
    AuthMethods,
    ChatMethods,
    ConversationsMethods,
    PinsReactionsMethods,
    UsersMethods,
    ViewsMethods,
    FilesMethods,
    Server,
):
    """One pretend Slack workspace, served over HTTP, with humans who act toward the bot."""

    def _routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.route("POST", "/api/{method}", self._handle_api),
            web.route("GET", "/api/{method}", self._handle_api),
            web.post("/response/{token}", self._handle_response_url),
            web.post("/upload/{file_id}", self._handle_upload),
            web.get("/files/{file_id}", self._handle_file),
            web.get("/link/", self.socket_mode.handle),
        ]

"""Serving the workspace over HTTP as slack.com does: ``/api/<method>`` (token, scopes,
held and failing calls, Slack's error answers) and the ``response_url``s it hands out."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from bot.fakes.slack.model import RESPONSE_URL_USES, Call, Failure, Hold, ResponseTarget
from bot.fakes.slack.wire import METHOD_SCOPES, METHODS, Args, SlackError, message_content
from bot.fakes.slack.workspace import Workspace


class Server(Workspace):
    """The Web API and response_url endpoints, and the controls tests have over them."""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve standalone on host:port (0 = any free port); returns base_url."""
        self._runner = web.AppRunner(self.app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self._set_base_url(f"http://{bound_host}:{bound_port}/")
        self.activity.start()
        return self.base_url

    async def stop(self) -> None:
        await self.socket_mode.close()
        await self._close_session()
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.activity.stop()

    def mount(self, parent: web.Application, prefix: str, base_url: str) -> None:
        """Serve inside another aiohttp app under prefix; base_url is its public address."""
        parent.add_subapp(prefix, self.app)
        self._set_base_url(base_url)

        async def begin(_: web.Application) -> None:
            self.activity.start()

        async def close(_: web.Application) -> None:
            await self._close_session()
            self.activity.stop()

        parent.on_startup.append(begin)
        parent.on_cleanup.append(close)

    def _set_base_url(self, base_url: str) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.api_url = self.base_url + "api/"

    async def _close_session(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def hold(self, method: str) -> Hold:
        """Hold the next call of `method` until `release()`: it arrives (`arrived` is set),
        Slack does nothing, and then it is carried out and answered, to whoever still
        listens (a client killed meanwhile never hears that it took effect)."""
        hold = self._holds[method] = Hold()
        return hold

    def fail(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        retry_after: int | None = None,
        times: int = 1,
        took_effect: bool = False,
    ) -> None:
        """Make the next `times` calls of method fail (429 ratelimited, 5xx, or an error).
        `took_effect`: the call is carried out, and only its answer is the error (Slack's
        `internal_error` and `fatal_error`: "some aspect of the operation" may have succeeded)."""
        failure = Failure(error, status, retry_after, times, took_effect)
        self._failures.setdefault(method, []).append(failure)

    # ----------------------------------------------------------------- HTTP: the Web API

    async def _read_args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.method != "POST" or not request.can_read_body:
            return args
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise SlackError("invalid_json") from None
            if not isinstance(body, dict):
                raise SlackError("invalid_json")
            args.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
        return args

    def _take_failure(self, method: str) -> Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.pop(0)
        return failure

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        status, headers = 200, {}
        args: dict[str, Any] = {}
        try:
            args = await self._read_args(request)
            token = args.pop("token", None)
            auth = request.headers.get("Authorization", "")
            in_header = auth.startswith("Bearer ")
            if in_header:
                token = auth[len("Bearer ") :].strip()
            delay = self.latency_for.get(method, self.latency)
            if delay > 0:
                await asyncio.sleep(delay)  # simulated network/server time, not synchronisation
            hold = self._holds.pop(method, None)
            if hold is not None:  # Slack is slow right now: the test decides when it answers
                hold.arrived.set()
                await hold.released.wait()
            failure = self._take_failure(method)
            if failure is not None:
                if failure.took_effect and method in METHODS:
                    METHODS[method](self, Args(args))
                status = failure.status
                if status == 429:
                    headers["Retry-After"] = str(
                        1 if failure.retry_after is None else failure.retry_after
                    )
                    raise SlackError("ratelimited")
                raise SlackError(
                    failure.error or ("fatal_error" if status >= 500 else "ratelimited")
                )
            handler = METHODS.get(method)
            if handler is None:
                raise SlackError("unknown_method")
            if method != "api.test":
                self._check_token(method, token, in_header)
            needed = METHOD_SCOPES.get(method)
            if needed and not set(needed) & set(self.scopes):
                raise SlackError("missing_scope", needed=needed[0], provided=",".join(self.scopes))
            body = {"ok": True, **handler(self, Args(args))}
            if method == "auth.test":
                headers["x-oauth-scopes"] = ",".join(self.scopes)
        except SlackError as e:
            body = {"ok": False, "error": e.error, **e.extra}
        self.calls.append(
            Call(method, args, bool(body["ok"]), body.get("error"), status, time.time())
        )
        return web.json_response(body, status=status, headers=headers)

    def _check_token(self, method: str, token: str | None, in_header: bool) -> None:
        if not token:
            raise SlackError("not_authed")
        if method == "apps.connections.open":
            if token == self.bot_token:
                raise SlackError("not_allowed_token_type")
            # the app-level token counts only in the Authorization header, never as an argument
            if token != self.app_token or not in_header:
                raise SlackError("invalid_auth")
        elif token == self.app_token:
            raise SlackError("not_allowed_token_type")
        elif token != self.bot_token:
            raise SlackError("invalid_auth")

    # ----------------------------------------------------------------- response_url

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        target = self._responses.get(request.match_info["token"])
        args: dict[str, Any] = {}
        status, error = 200, None
        try:
            try:
                args = await request.json()
            except ValueError:
                raise SlackError("invalid_json") from None
            if target is None:
                status = 404
                raise SlackError("expired_url")
            target.uses += 1
            if target.uses > RESPONSE_URL_USES:
                status = 404
                raise SlackError("used_url")
            status = 400  # from here on a refusal is the caller's payload
            self._apply_response(target, args)
            status = 200
        except SlackError as e:
            error = e.error
            extra = e.extra
        self.calls.append(Call("response_url", args, error is None, error, status, time.time()))
        if error is None:
            return web.json_response({"ok": True})
        return web.json_response({"ok": False, "error": error, **extra}, status=status)

    def _apply_response(self, target: ResponseTarget, body: dict[str, Any]) -> None:
        channel = self.channels[target.channel]
        source = self.message(channel.id, target.message_ts) if target.message_ts else None
        if body.get("delete_original") and source is not None:
            self.messages[channel.id].remove(source)
            self._emit({"type": "message_deleted", "channel": channel.id, "ts": source.ts})
            return
        text, blocks = message_content(Args(body))
        if body.get("replace_original") and source is not None:
            source.text = text or ""
            source.blocks = self._with_ids(blocks or [])
            source.edited = True
            self._emit({"type": "message_changed", "message": self.serialize_message(source)})
            return
        in_channel = body.get("response_type") == "in_channel"
        self._store_message(
            channel,
            self.bot_user_id,
            text or "",
            blocks or [],
            thread_ts=body.get("thread_ts"),
            ephemeral_to=None if in_channel else target.user,
        )

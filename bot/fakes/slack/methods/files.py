"""Methods: files.getUploadURLExternal and files.completeUploadExternal, with the
upload URL they hand out and the shared file's permalink."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
from aiohttp import web

from bot.fakes.slack.wire import Args, SlackError, metadata_messages, method
from bot.fakes.slack.workspace import Workspace


class FilesMethods(Workspace):
    """Methods: files.getUploadURLExternal and files.completeUploadExternal, with the"""

    @method("files.getUploadURLExternal")
    def _files_get_upload_url(self, a: Args) -> dict[str, Any]:
        filename = a.req("filename")
        length = a.num("length", -1)
        if length < 0:
            raise SlackError("invalid_arguments", response_metadata=metadata_messages(["length"]))
        file_id = self._new_id("F")
        self.files[file_id] = {
            "id": file_id,
            "name": filename,
            "title": filename,
            "length": length,
            "content": None,
            "user": self.bot_user_id,
            "created": int(time.time()),
            "channels": [],
        }
        return {"upload_url": f"{self.base_url}upload/{file_id}", "file_id": file_id}

    async def _handle_upload(self, request: web.Request) -> web.Response:
        f = self.files.get(request.match_info["file_id"])
        if f is None:
            return web.Response(status=404, text="file_not_found")
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            part = await reader.next()
            content = await part.read() if isinstance(part, aiohttp.BodyPartReader) else b""
        else:
            content = await request.read()
        f["content"] = bytes(content)
        return web.Response(text=f"OK - {len(content)}")

    async def _handle_file(self, request: web.Request) -> web.Response:
        """A shared file's bytes at its permalink, as plain text (the sandbox links to it)."""
        f = self.files.get(request.match_info["file_id"])
        if f is None or f["content"] is None or not f["channels"]:
            return web.Response(status=404, text="file_not_found")
        return web.Response(
            body=f["content"],
            content_type="text/plain",
            charset="utf-8",
            headers={"Content-Disposition": f'inline; filename="{f["name"]}"'},
        )

    def _file_object(self, f: dict[str, Any]) -> dict[str, Any]:
        public = {k: v for k, v in f.items() if k != "content"}
        public["size"] = len(f["content"] or b"")
        public["permalink"] = f"{self.base_url or 'https://fake.slack.com/'}files/{f['id']}"
        return public

    @method("files.completeUploadExternal")
    def _files_complete_upload(self, a: Args) -> dict[str, Any]:
        wanted = a.structured("files", "invalid_arguments")
        if not isinstance(wanted, list) or not wanted:
            raise SlackError("invalid_arguments", response_metadata=metadata_messages(["files"]))
        found = []
        for item in wanted:
            f = self.files.get(item.get("id", "")) if isinstance(item, dict) else None
            if f is None or f["content"] is None:
                raise SlackError("file_not_found")
            if item.get("title"):
                f["title"] = item["title"]
            found.append(f)
        channel_id = a.opt("channel_id") or next(iter(a.csv("channels")), None)
        if channel_id:
            channel = self._channel(channel_id, allow_user=True)
            self._check_can_post(channel)
            for f in found:
                f["channels"].append(channel.id)
            objects = [self._file_object(f) for f in found]
            m = self._store_message(
                channel,
                self.bot_user_id,
                a.opt("initial_comment") or "",
                [],
                thread_ts=a.opt("thread_ts"),
                files=objects,
            )
            for obj in objects:
                self._emit({"type": "file_shared", "file": obj, "channel": channel.id, "ts": m.ts})
        return {"files": [self._file_object(f) for f in found]}

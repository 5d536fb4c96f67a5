"""HTTP by hand, for the bytes a polite client library will not send: undecodable headers,
half-sent requests, connections that stall."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Answer:
    status: int
    head: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


def request_bytes(
    method: str, path: str, body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None
) -> bytes:
    """A whole HTTP/1.1 request, header values exactly as given (any bytes at all)."""
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: bot", b"Connection: close"]
    lines += [name + b": " + value for name, value in headers or []]
    lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def send(url: str, data: bytes) -> Answer:
    """Send `data` as it is; read the answer (its Content-Length says how much)."""
    reader, writer = await asyncio.open_connection(*address(url))
    try:
        writer.write(data)
        await writer.drain()
        return await read_answer(reader)
    finally:
        writer.close()


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status = int(head.split(" ", 2)[1])
    length = next(
        (
            int(line.split(":", 1)[1])
            for line in head.split("\r\n")
            if line.lower().startswith("content-length:")
        ),
        0,
    )
    return Answer(status, head, await reader.readexactly(length))


async def post(
    url: str, path: str, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> Answer:
    return await send(url, request_bytes("POST", path, body, headers))

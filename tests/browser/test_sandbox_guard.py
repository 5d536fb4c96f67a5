"""Another web site open in the same Chromium cannot use the sandbox.

Chromium resolves evil.example to 127.0.0.1 (as a DNS-rebinding attacker's name would),
and an attacker's page is served from http://evil.example:<other port>/: it submits a
form, fetches and opens a WebSocket to the sandbox. Every one reaches the sandbox, which
refuses it; the sandbox page itself, on localhost, still works.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.browser.chromium import EXPECT_TIMEOUT, launch
from tests.browser.ui import Browser, expect, open_channel, playwright_api, send
from tests.sandbox_process import SandboxProcess, free_port

pytestmark = pytest.mark.browser

EVIL_PAGE = """<!doctype html><title>Free cat pictures</title>
<form method="post" action="{sandbox}/sandbox/compose" enctype="text/plain" target="sink">
<input name='{{"user":"U0ALICE","channel":"{channel}","text":"pwned by a form","x":"' value='"}}'>
</form><iframe name="sink"></iframe>"""


@pytest.fixture(scope="module")
def evil_site() -> Iterator[dict[str, str]]:
    """http://evil.example:<port>/ serves `page["html"]`."""
    page = {"html": ""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page["html"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page["url"] = f"http://evil.example:{server.server_address[1]}/"
    yield page
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(sandbox: SandboxProcess) -> Iterator[Browser]:
    """Chromium that resolves evil.example to this machine."""
    with playwright_api.sync_playwright() as p:
        chromium = launch(p, "--host-resolver-rules=MAP evil.example 127.0.0.1")
        yield chromium
        chromium.close()


def test_a_dns_rebinding_page_is_misdirected(browser: Browser, sandbox: SandboxProcess) -> None:
    page = browser.new_page()
    try:
        answer = page.goto(f"http://evil.example:{sandbox.port}/")
        assert answer is not None and answer.status == 421
        assert "Message" not in page.content()
    finally:
        page.close()


def test_another_site_cannot_post_or_listen(
    browser: Browser, sandbox: SandboxProcess, evil_site: dict[str, str]
) -> None:
    expect.set_options(timeout=EXPECT_TIMEOUT)
    mine = browser.new_page()
    evil = browser.new_page()
    try:
        mine.goto(sandbox.url)
        open_channel(mine, "#general")
        channel = mine.evaluate(
            """() => new Promise(done => {
                const ws = new WebSocket(`ws://${location.host}/sandbox/ws`);
                ws.onmessage = e => { ws.close();
                  done(JSON.parse(e.data).channels.find(c => c.name === "general").id); };
            })"""
        )
        evil_site["html"] = EVIL_PAGE.format(sandbox=sandbox.url.rstrip("/"), channel=channel)
        evil.goto(evil_site["url"])

        # a form posts cross-site (text/plain smuggling a JSON body): Chromium sends the
        # evil Origin, the sandbox answers 403
        with evil.expect_response(lambda r: r.url.endswith("/sandbox/compose")) as form:
            evil.evaluate("document.forms[0].submit()")
        assert form.value.status == 403
        # a fetch of the same, no-cors (its answer unreadable to the page, but refused)
        with evil.expect_response(lambda r: r.url.endswith("/sandbox/compose")) as fetched:
            evil.evaluate(
                """([url, channel]) => fetch(url, {method: "POST", mode: "no-cors",
                    headers: {"Content-Type": "text/plain"},
                    body: JSON.stringify({user: "U0ALICE", channel, text: "pwned by fetch"})})""",
                [sandbox.url + "sandbox/compose", channel],
            )
        assert fetched.value.status == 403
        # the live feed: the handshake is refused
        opened = evil.evaluate(
            """url => new Promise(done => { const ws = new WebSocket(url);
                ws.onopen = () => done("open"); ws.onerror = () => done("refused"); })""",
            sandbox.url.replace("http://", "ws://") + "sandbox/ws",
        )
        assert opened == "refused"

        # the sandbox page still works, and shows nothing the other site sent
        send(mine, "all clear from localhost")
        messages = mine.get_by_role("article")
        expect(messages.filter(has_text="all clear from localhost")).to_be_visible()
        expect(messages.filter(has_text="pwned")).to_have_count(0)
    finally:
        evil.close()
        mine.close()

"""After the incident in the sandbox: the page's 📌 on a message puts it on the timeline,
and the post-mortem draft the bot uploads can be opened from its link."""

from __future__ import annotations

import aiohttp

from bot.core.config import IncidentConfig
from bot.sandbox.web import sandbox_feed
from tests.integration.harness import eventually
from tests.sandbox_process import serve_sandbox

CONFIG = IncidentConfig.model_validate({"scheduler": {"tick": 0.1}})


async def test_react_with_a_pushpin_and_open_the_draft(redis_url: str) -> None:
    app, runner, url = await serve_sandbox(redis_url, CONFIG)
    slack = sandbox_feed(app).fake
    try:
        general = slack.channel_by_name("general")
        assert general is not None
        async with aiohttp.ClientSession() as http:

            async def compose(channel: str, text: str) -> None:
                body = {"user": "U0ALICE", "channel": channel, "text": text}
                async with http.post(f"{url}/sandbox/compose", json=body) as r:
                    assert (await r.json()) == {"ok": True}

            await compose(general.id, "/incident declare SEV3 Search is slow")
            channel = await eventually(
                lambda: next((c for c, ch in slack.channels.items() if "-search" in ch.name), None)
            )
            await compose(channel, "Reindex started")
            said = await eventually(
                lambda: next(
                    (m for m in slack.messages[channel] if m.text == "Reindex started"), None
                )
            )
            body = {"user": "U0ALICE", "channel": channel, "ts": said.ts, "name": "pushpin"}
            async with http.post(f"{url}/sandbox/react", json=body) as r:
                assert (await r.json()) == {"ok": True}
            # the bot tells whoever pinned it, once it is on the timeline
            await eventually(
                lambda: [m for m in slack.messages[channel] if m.text.startswith(":pushpin:")]
            )
            async with http.post(f"{url}/sandbox/react", json={**body, "ts": ""}) as r:
                assert r.status == 400

            await compose(channel, "/incident postmortem")
            shared = await eventually(
                lambda: next((m for m in slack.messages[channel] if m.files), None)
            )
            link = shared.files[0]["permalink"]
            async with http.get(link) as r:
                assert r.status == 200
                text = await r.text()
            assert text.startswith("# Post-mortem: ")
            assert "Pinned: “Reindex started”" in text
    finally:
        await runner.cleanup()

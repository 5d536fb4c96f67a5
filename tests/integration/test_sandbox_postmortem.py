"""After the incident in the sandbox: the page's 📌 on a message puts it on the timeline,
and the post-mortem draft the bot uploads can be opened from its link."""

from __future__ import annotations

from bot.core.config import IncidentConfig
from tests.integration.harness import eventually, served_sandbox

CONFIG = IncidentConfig.model_validate({"scheduler": {"tick": 0.1}})


async def test_react_with_a_pushpin_and_open_the_draft(redis_url: str) -> None:
    async with served_sandbox(redis_url, CONFIG) as sandbox:
        slack = sandbox.slack
        channel = await sandbox.declare("SEV3 Search is slow")
        await sandbox.compose(channel, "Reindex started")
        said = await eventually(
            lambda: next((m for m in slack.messages[channel] if m.text == "Reindex started"), None)
        )
        body = {"user": "U0ALICE", "channel": channel, "ts": said.ts, "name": "pushpin"}
        assert await sandbox.post("/sandbox/react", body) == {"ok": True}
        # the bot tells whoever pinned it, once it is on the timeline
        await eventually(
            lambda: [m for m in slack.messages[channel] if m.text.startswith(":pushpin:")]
        )
        await sandbox.post("/sandbox/react", {**body, "ts": ""}, status=400)

        await sandbox.compose(channel, "/incident postmortem")
        shared = await eventually(
            lambda: next((m for m in slack.messages[channel] if m.files), None)
        )
        link = shared.files[0]["permalink"]
        async with sandbox.http.get(link) as r:
            assert r.status == 200
            text = await r.text()
        assert text.startswith("# Post-mortem: ")
        assert "Pinned: “Reindex started”" in text

"""The sandbox page's shortcuts: its menus list the manifest's shortcuts, and picking one
reaches the bot as Slack's payload (a message's *Declare incident* opens the form filled
in from that message); a shortcut the manifest does not have is refused in one sentence."""

from __future__ import annotations

import blocks.shortcuts as ui
from bot.core.config import IncidentConfig
from tests.integration.harness import eventually, served_sandbox

FORM = ui.DECLARE_FROM_MESSAGE_FORM


async def test_the_pages_menus_are_the_manifests_shortcuts_and_reach_the_bot(
    redis_url: str,
) -> None:
    async with served_sandbox(redis_url, IncidentConfig()) as sandbox:
        slack = sandbox.slack
        general = sandbox.channel("general")
        async with sandbox.http.get(f"{sandbox.url}/sandbox/shortcuts") as r:
            listed = (await r.json())["shortcuts"]
        assert {(s["type"], s["callback_id"]) for s in listed} == {
            ("message", ui.DECLARE_FROM_MESSAGE),
            ("message", ui.ADD_TO_TIMELINE),
            ("global", ui.DECLARE),
        }
        await sandbox.compose(general, "Search is down for EU", user="U0CAROL")
        [posted] = [m for m in slack.messages[general] if m.text == "Search is down for EU"]
        pick = {
            "user": "U0ALICE",
            "channel": general,
            "ts": posted.ts,
            "callback_id": ui.DECLARE_FROM_MESSAGE,
        }
        assert await sandbox.post("/sandbox/shortcut", pick) == {"ok": True}

        def form() -> dict | None:  # type: ignore[type-arg]
            forms = slack.views.values()
            return next((v for v in forms if v["callback_id"] == FORM), None)

        opened = await eventually(form)
        title = next(b for b in opened["blocks"] if b.get("block_id") == "title")
        assert title["element"]["initial_value"] == "Search is down for EU"

        odd = {**pick, "callback_id": "delete_everything"}
        refused = await sandbox.post("/sandbox/shortcut", odd, status=400)
        assert "no shortcut 'delete_everything'" in refused["error"]

"""The sandbox page's shortcuts: its menus list the manifest's shortcuts, and picking one
reaches the bot as Slack's payload (a message's *Declare incident* opens the form filled
in from that message); a shortcut the manifest does not have is refused in one sentence."""

from __future__ import annotations

import aiohttp

import blocks.shortcuts as ui
from bot.core.config import IncidentConfig
from bot.sandbox.web import sandbox_feed
from tests.integration.harness import eventually
from tests.sandbox_process import serve_sandbox

FORM = ui.DECLARE_FROM_MESSAGE_FORM


async def test_the_pages_menus_are_the_manifests_shortcuts_and_reach_the_bot(
    redis_url: str,
) -> None:
    app, runner, url = await serve_sandbox(redis_url, IncidentConfig())
    slack = sandbox_feed(app).fake
    try:
        general = slack.channel_by_name("general")
        assert general is not None
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/sandbox/shortcuts") as r:
                listed = (await r.json())["shortcuts"]
            assert {(s["type"], s["callback_id"]) for s in listed} == {
                ("message", ui.DECLARE_FROM_MESSAGE),
                ("message", ui.ADD_TO_TIMELINE),
                ("global", ui.DECLARE),
            }
            said = {"user": "U0CAROL", "channel": general.id, "text": "Search is down for EU"}
            async with http.post(f"{url}/sandbox/compose", json=said) as r:
                assert (await r.json()) == {"ok": True}
            [posted] = [m for m in slack.messages[general.id] if m.text == "Search is down for EU"]
            pick = {
                "user": "U0ALICE",
                "channel": general.id,
                "ts": posted.ts,
                "callback_id": ui.DECLARE_FROM_MESSAGE,
            }
            async with http.post(f"{url}/sandbox/shortcut", json=pick) as r:
                assert (await r.json()) == {"ok": True}

            def form() -> dict | None:  # type: ignore[type-arg]
                forms = slack.views.values()
                return next((v for v in forms if v["callback_id"] == FORM), None)

            opened = await eventually(form)
            title = next(b for b in opened["blocks"] if b.get("block_id") == "title")
            assert title["element"]["initial_value"] == "Search is down for EU"

            odd = {**pick, "callback_id": "delete_everything"}
            async with http.post(f"{url}/sandbox/shortcut", json=odd) as r:
                assert r.status == 400
                assert "no shortcut 'delete_everything'" in (await r.json())["error"]
    finally:
        await runner.cleanup()

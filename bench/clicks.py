"""The bench's runbook clicks: N people, each owning one step of a 60-step checklist,
click through it at the same time, each click sent from the load generator's process.

A click is what the fake's humans send (bot/fakes/slack/humans.py `click`, built in the
fake's process and sent from here), on the element the posted message offers for the
clicker's step, in turn I'm on it, Done, Undo, Skip, Undo: on the compact checklist
(blocks/runbooks.py) Done ticks the step's box (the tick carries its group's whole
selection, as Slack sends it, so the clickers of one group race on one element) and the
others are its ⋯ menu's options; on a checklist of buttons, the button of that name. Its
latency runs from sending the click to the fake's `chat.update` of that message in which
the clicker's step reads differently than before the click (only its owner changes it).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.wire import command_counts, cpu_seconds, send_slack

if TYPE_CHECKING:
    from bench.load import Load

RUNBOOK_ID = "bench-sixty"
STEPS = 60
# which button a clicker presses on each round, if the step offers it
TURNS = ("take", "done", "undo", "skip", "undo")


def write_runbook(folder: Path) -> None:
    steps = "\n".join(f"      - text: Bench step {i + 1}" for i in range(STEPS))
    (folder / f"{RUNBOOK_ID}.yaml").write_text(
        f"title: Sixty steps\nphases:\n  - id: investigation\n    steps:\n{steps}\n"
    )


def _elements(block: dict[str, Any]) -> list[dict[str, Any]]:
    out = list(block.get("elements") or []) if block.get("type") == "actions" else []
    out += [block[k] for k in ("accessory", "element") if isinstance(block.get(k), dict)]
    return [e for e in out if isinstance(e, dict)]


def _mine(option: dict[str, Any], step: str) -> bool:
    value = str(option.get("value", ""))
    return value == step or value.endswith((f"|{step}", f":{step}"))


def region(blocks: list[dict[str, Any]], step: str) -> str:
    """What the message shows of one step: its blocks, its buttons, its options (and
    whether they are ticked), as one comparable string."""
    out: list[Any] = []
    for block in blocks:
        if str(block.get("block_id", "")).endswith(f"-{step}"):
            out.append({k: v for k, v in block.items() if k != "block_id"})
            continue
        for el in _elements(block):
            if str(el.get("action_id", "")).endswith(f":{step}"):
                out.append(el)
            ticked = {o.get("value") for o in el.get("initial_options") or []}
            out += [
                [o, o.get("value") in ticked] for o in el.get("options") or [] if _mine(o, step)
            ]
    return json.dumps(out, sort_keys=True)


def choose(blocks: list[dict[str, Any]], step: str, turn: int) -> dict[str, Any] | None:
    """The click to make on `step` this turn: action_id, value, block_id."""
    wanted = TURNS[turn % len(TURNS)]
    buttons, options = [], []
    for block in blocks:
        for el in _elements(block):
            action = str(el.get("action_id", ""))
            if el.get("type") == "button" and action.endswith(f":{step}"):
                buttons.append((block, el, el.get("value")))
            options += [(block, el, o["value"]) for o in el.get("options") or [] if _mine(o, step)]
    if options:
        # Done: the step's box; the rest: its menu's option of that verb (`take|run|step`)
        fits = [
            c
            for c in options
            if (
                c[1].get("type") == "checkboxes"
                if wanted == "done"
                else c[2].startswith(f"{wanted}|")
            )
        ]
        _, el, value = (fits or options)[0]
        # the element offering that option, wherever it is now: another clicker's change
        # to the group gives its block a new block_id (and the fake knows no other)
        return {"action_id": el["action_id"], "value": value, "block_id": None}
    if buttons:
        fits = [c for c in buttons if f"_{wanted}:" in c[1]["action_id"]]
        block, el, value = (fits or buttons)[0]
        return {"action_id": el["action_id"], "value": value, "block_id": block["block_id"]}
    return None


async def run(load: Load, clickers: int, rounds: int) -> tuple[list[float], str]:
    """Declare an incident, post the runbook, click: the latencies and a detail line."""
    slack, http, feed = load.spec["slack_url"], load.http, load.feed
    declare = await load.prepare("declare SEV2 Bench clicks 00000", "U0ALICE", load.info["general"])
    await send_slack(http, load.bot_url, load.secret, declare)
    await feed.until(lambda: load.set_up("clicks", 0)[2] is not None, load.sizes["give_up"])
    incident, channel, _ = load.set_up("clicks", 0)
    assert incident and channel, "the clicks' incident was not set up"
    post = await load.prepare(f"runbook {RUNBOOK_ID}", "U0ALICE", channel)
    await send_slack(http, load.bot_url, load.secret, post)
    store = load.replica.services.store
    parts: list[str] = []
    deadline = time.monotonic() + load.sizes["give_up"]
    while time.monotonic() < deadline:  # another process's state: a bench, not a test
        run_id = (await store.incident_runs(incident)).get(RUNBOOK_ID)
        run = await store.get_run(run_id) if run_id else None
        if run is not None and run.complete:
            parts = list(run.messages)
            break
        await asyncio.sleep(0.1)
    assert parts, "the runbook was not posted"
    steps = [s.id for s in load.replica.services.runbooks[RUNBOOK_ID].steps()]

    async def message(ts: str) -> dict[str, Any]:
        async with http.get(f"{slack}bench/message", params={"channel": channel, "ts": ts}) as r:
            return dict(await r.json())

    where: dict[str, str] = {}
    for ts in parts:
        blocks = (await message(ts))["blocks"]
        for step in steps:
            if region(blocks, step) != "[]":
                where.setdefault(step, ts)
    latencies: list[float] = []
    lost = 0

    async def clicker(user: str, step: str) -> None:
        nonlocal lost
        ts = where[step]
        for turn in range(rounds):
            blocks = (await message(ts))["blocks"]
            click = choose(blocks, step, turn)
            if click is None:
                lost += 1
                return
            before = region(blocks, step)
            spec = {"kind": "click", "user": user, "channel": channel, "ts": ts, **click}
            async with http.post(f"{slack}bench/prepare", json=spec) as r:
                payload = (await r.json()).get("payload")
            if payload is None:
                lost += 1
                return
            # updates of this message seen so far cannot show this click
            looked = [len(feed.updates.get((channel, ts), []))]
            sent = await send_slack(http, load.bot_url, load.secret, payload)
            if sent.status != 200:
                lost += 1
                continue
            seen: list[float] = []

            def shown(
                since: float = sent.at,
                before: str = before,
                seen: list = seen,
                looked: list = looked,
            ) -> bool:
                updates = feed.updates.get((channel, ts), [])
                for update in updates[looked[0] :]:
                    if update["at"] >= since and region(update["blocks"], step) != before:
                        seen.append(update["at"])
                        return True
                looked[0] = len(updates)
                return False

            if await feed.until(shown, 30):
                latencies.append(seen[0] - sent.at)
            else:
                lost += 1

    users = [f"U0B{next(load.users):05d}" for _ in range(clickers)]
    updates = sum(len(v) for v in feed.updates.values())
    profiler = load.start_profile("clicks")
    cpu0, redis0 = cpu_seconds(load.pid), await command_counts(load.redis)
    began = time.perf_counter()
    await asyncio.gather(*(clicker(u, s) for u, s in zip(users, steps, strict=False)))
    took = time.perf_counter() - began
    cpu, redis = cpu_seconds(load.pid) - cpu0, await command_counts(load.redis) - redis0
    clicks = max(1, clickers * rounds)
    load.stop_profile("clicks", profiler)
    updates = sum(len(v) for v in feed.updates.values()) - updates
    middle = sorted(latencies)[len(latencies) // 2] if latencies else 0.0
    detail = (
        f"{clickers} clickers × {rounds} clicks on a {STEPS}-step runbook in {len(parts)} "
        f"message(s): {len(latencies)} shown in {took:.1f} s (p50 {middle * 1000:.0f} ms), "
        f"{updates} chat.update calls, {lost} not shown; bot "
        f"{(cpu - load.idle_cpu * took) / clicks * 1000:.1f} ms CPU and "
        f"{redis.total() / clicks:.1f} Redis commands per click"
    )
    return latencies, detail

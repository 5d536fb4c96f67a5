"""Click-to-update latency of runbook checklists under 50 concurrent clickers.

    python bench/runbook_clicks.py [--clickers 50] [--rounds 5]

Starts its own redis-server on a free port, the fake Slack and the real app on real
ports, declares an incident and posts a 60-step runbook (one compact message: six groups
of ten checkboxes, a ⋯ menu a step). Then:

0. One person alone clicks through one step 20 times: the uncontended baseline.
1. Each of N clickers owns one step and clicks through it like a person: I'm on it (its
   menu), tick, untick, Skip (menu), Undo (menu) (--rounds clicks), each time waiting
   until the checklist in Slack shows what they did. Ticks carry their group's whole
   selection, as Slack sends it, so clickers of one group race on one element.
2. N clickers tick one and the same step at the same moment: the time until Slack shows
   it done, and how many timeline entries that made (must be 1).

Latency is measured from the click request the fake sends to the bot until the fake's
chat.update whose message carries that step's new state (seen through
FakeSlack.subscribe()). Bot, fake Slack and clickers share one process and one event
loop, so under a burst the figure includes parsing every other click's payload (Slack
sends the whole message with each click). Prints p50/p99/max, how many chat.update calls
the clicks cost, and checks that the final message equals a rendering of the stored
state.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blocks.runbooks import menu_value, runbook_messages
from bot.core.config import IncidentConfig, Settings
from bot.core.models import RunbookRun
from bot.fakes.slack import FakeSlack
from bot.server import Bot, build
from tests.conftest import RedisServer

RUNBOOK_ID = "bench-sixty"
STEPS = 60
# what each click does (a tick, or a verb of the step's menu), and how the step then
# reads in Slack: its box's description names who (open: no description)
SEQUENCE = (
    ("take", "is on it"),
    ("tick", "done by"),
    ("tick", "open"),
    ("skip", "skipped by"),
    ("undo", "open"),
)


def write_runbook(folder: Path) -> None:
    steps = "\n".join(f"      - text: Bench step {i + 1}" for i in range(STEPS))
    (folder / f"{RUNBOOK_ID}.yaml").write_text(
        f"title: Sixty steps\nphases:\n  - id: investigation\n    steps:\n{steps}\n"
    )


def shows(message: dict[str, Any], step: str, user: str, marker: str) -> bool:
    for block in message.get("blocks", []):
        for el in block.get("elements", []):
            if el.get("type") != "checkboxes":
                continue
            for option in el["options"]:
                if option["value"] == step:
                    note = str(option.get("description", {}).get("text", ""))
                    if marker == "open":
                        return note == ""
                    return f"{marker} <@{user}" in note or f"<@{user}> {marker}" in note
    return False


class Watcher:
    """Resolves a waiter when a chat.update carries the state it waits for."""

    def __init__(self, fake: FakeSlack) -> None:
        self.waiting: list[tuple[str, str, str, asyncio.Future[float]]] = []
        self.updates = 0
        fake.subscribe(self.on_event)

    def on_event(self, event: dict[str, Any]) -> None:
        if event["type"] != "message_changed":
            return
        self.updates += 1
        now = time.perf_counter()
        message = event["message"]
        for item in list(self.waiting):
            step, user, marker, future = item
            if not future.done() and shows(message, step, user, marker):
                future.set_result(now)
                self.waiting.remove(item)

    def expect(self, step: str, user: str, marker: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting.append((step, user, marker, future))
        return future


async def serve(bot: Bot) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(bot.web, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/slack/events"


async def act(fake: FakeSlack, run: RunbookRun, user: str, step: str, how: str) -> None:
    ts = run.messages[0]
    if how == "tick":
        ack = await fake.tick(user, run.channel, ts, step)
    else:
        ack = await fake.choose(user, run.channel, ts, menu_value(how, run.id, step))
    assert ack.status == 200, ack


async def clicker(
    fake: FakeSlack, watcher: Watcher, run: RunbookRun, user: str, step: str, rounds: int
) -> list[float]:
    latencies = []
    for i in range(rounds):
        how, marker = SEQUENCE[i % len(SEQUENCE)]
        seen = watcher.expect(step, user, marker)
        began = time.perf_counter()
        await act(fake, run, user, step, how)
        latencies.append(await asyncio.wait_for(seen, timeout=30) - began)
    return latencies


def pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] * 1000


async def main() -> None:
    from bot.core.logs import setup_logging

    setup_logging("WARNING")
    parser = argparse.ArgumentParser()
    parser.add_argument("--clickers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    assert args.clickers <= STEPS - 2
    redis = RedisServer()
    folder = Path(tempfile.mkdtemp(prefix="bench-runbooks-"))
    write_runbook(folder)
    fake = FakeSlack()
    runner = None
    try:
        await fake.start()
        users = [f"U0B{i:04d}" for i in range(args.clickers)]
        for user in users:
            fake.add_user(user, user.lower())
        settings = Settings(
            slack_bot_token=fake.bot_token,
            slack_signing_secret=fake.signing_secret,
            slack_api_url=fake.api_url,
            redis_url=redis.url,
        )
        bot = build(settings, IncidentConfig(runbooks_dir=folder))
        runner, url = await serve(bot)
        fake.app_url = url
        svc = bot.services
        assert svc.checklists is not None
        declared = await svc.incidents.declare(title="Bench", severity="SEV2", by="U0ALICE")
        incident = declared
        while not incident.card_ts:  # the set-up (channel, card) runs after the declare
            await asyncio.sleep(0.01)
            incident = await svc.store.get(declared.id) or declared
        assert incident.channel_id
        await fake.slash_command(
            "U0ALICE", incident.channel_id, "/incident", "runbook " + RUNBOOK_ID
        )
        run = None
        while run is None or not run.complete:
            run_id = (await svc.store.incident_runs(incident.id)).get(RUNBOOK_ID)
            run = await svc.store.get_run(run_id) if run_id else None
            await asyncio.sleep(0.01)
        steps = [s.id for s in svc.runbooks[RUNBOOK_ID].steps()]
        watcher = Watcher(fake)
        # count the bot's finished clicks and ticks, to stop only once every one is handled
        finished = [0]
        all_handled = asyncio.Event()
        expected = [0]  # set once every click is sent

        def counting(original: Any) -> Any:
            async def counted(*a: Any, **k: Any) -> Any:
                try:
                    return await original(*a, **k)
                finally:
                    finished[0] += 1
                    if expected[0] and finished[0] >= expected[0]:
                        all_handled.set()

            return counted

        svc.checklists.click = counting(svc.checklists.click)  # type: ignore[method-assign]
        svc.checklists.tick = counting(svc.checklists.tick)  # type: ignore[method-assign]

        # 0. the baseline: one person alone, clicking through one step
        alone = await clicker(fake, watcher, run, users[0], steps[-2], 20)
        print(
            f"runbook clicks, one clicker alone (20 clicks): p50 {pct(alone, 50):6.1f} ms   "
            f"p99 {pct(alone, 99):6.1f} ms"
        )
        watcher.updates = 0

        # 1. N clickers, one step each, clicking through it
        began = time.perf_counter()
        results = await asyncio.gather(
            *(
                clicker(fake, watcher, run, user, steps[i], args.rounds)
                for i, user in enumerate(users)
            )
        )
        elapsed = time.perf_counter() - began
        latencies = [x for r in results for x in r]
        clicks = len(latencies)
        print(
            f"runbook clicks: {args.clickers} concurrent clickers x {args.rounds} clicks "
            f"on a {STEPS}-step runbook in {run.parts} message"
        )
        print(
            f"  click -> chat.update with the new state: p50 {pct(latencies, 50):6.1f} ms   "
            f"p99 {pct(latencies, 99):6.1f} ms   max {max(latencies) * 1000:6.1f} ms"
        )
        print(
            f"  {clicks} clicks in {elapsed:.2f} s ({clicks / elapsed:.0f}/s) made "
            f"{watcher.updates} chat.update calls ({watcher.updates / clicks:.2f} per click; "
            "unbatched, every click would cost 1)"
        )

        # 2. N clickers on one step at once
        target = steps[-1]
        done = watcher.expect(target, "", "done by")
        began = time.perf_counter()
        await asyncio.gather(*(act(fake, run, user, target, "tick") for user in users))
        shown = await asyncio.wait_for(done, timeout=30) - began
        # the 50 clicks' syncs are done when no further update comes; wait on the store
        entries = [
            e
            for e in await svc.store.timeline(incident.id)
            if e.kind == "runbook_step" and e.text.startswith(f"Step {target} ")
        ]
        print(
            f"  {args.clickers} clicks on one step at once: Slack shows it done after "
            f"{shown * 1000:.1f} ms; timeline entries for it: {len(entries)}"
        )

        # the message ends as a rendering of the stored state
        for _ in range(500):
            snap = await svc.store.run_snapshot(run.id)
            assert snap is not None
            rendered = runbook_messages(svc.runbooks[RUNBOOK_ID], snap.states, run_id=run.id)
            actual = [fake.message(run.channel, t).blocks for t in run.messages]  # type: ignore[union-attr]
            if actual == rendered:
                print("  final message equals the rendering of the stored state: yes")
                break
            await asyncio.sleep(0.01)
        else:
            print("  final message equals the rendering of the stored state: NO")
        expected[0] = len(alone) + clicks + args.clickers
        if finished[0] < expected[0]:
            await asyncio.wait_for(all_handled.wait(), timeout=30)
    finally:
        if runner is not None:
            await runner.cleanup()
        await fake.stop()
        redis.stop()


if __name__ == "__main__":
    asyncio.run(main())

"""The bench's load generator: a process of its own (`python -m bench.load SPEC.json`,
started by `python -m bench`), which drives the bot from outside and prints the table.

It sends what Slack sends (built by the fake's humans, signed and sent from here), reads
what the fake Slack saw over its feed (bench/slack_process.py, the fake's clock), the
bot's CPU time and RSS from /proc, and Redis's INFO commandstats. Where the bench must
set up state no command can (1,000 reminders due within seconds, an escalation matrix
started in the past) it goes through the bot's own services (`build()`, never started:
a replica that only writes due-items), and reads each due-item's due time from the store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import signal
import subprocess
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from bench import clicks
from bench.alerts import NAMES, TOKEN, payloads
from bench.wire import (
    Feed,
    Sent,
    burst,
    command_counts,
    cpu_seconds,
    p99,
    percentile,
    quiet,
    rss_mib,
)
from bot.core.config import Settings, load_config
from bot.escalations import STEP as ESCALATION_STEP
from bot.reminders import DUE as REMINDER
from bot.server import Bot, build

# every figure of the table (issue 19), its goal and whether a value meets it
FIGURES: list[tuple[str, str, str]] = [
    ("ack", "/incident declare ack p99 ÷ bare-Bolt ack p99", "≤ 1.3×"),
    ("setup", "declare fully set up (channel, pinned card, announcement) p99", "≤ 1.5 s"),
    ("told", "declarer told (ephemeral confirmation) p99", "≤ 2 s"),
    ("redis", "Redis commands per declare (transactions: MULTI)", "≤ 40, ≤ 3 transactions"),
    ("cpu", "bot CPU per declare", "≤ 6 ms"),
    ("click", "runbook click → chat.update p99", "≤ 150 ms"),
    ("reminder", "reminder lateness p99", "≤ 0.25 s"),
    ("escalation", "escalation-matrix step lateness p99", "≤ 0.25 s"),
    ("alerts", "Alertmanager webhooks accepted, one alert per POST", "≥ 3,000/s, 0 duplicates"),
    ("rss", "idle RSS", "≤ 80 MiB"),
]


@dataclass
class Row:
    shown: str  # the measured value as printed
    ok: bool | None  # meets the goal (None: not measured)
    detail: str = ""


class Load:
    """One run of every phase against the processes named in the spec."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.sizes: dict[str, Any] = spec["sizes"]
        self.pid: int = spec["bot_pid"]
        self.bot_url: str = spec["bot_url"]
        self.rows: dict[str, Row] = {}
        self.idle_cpu = 0.0
        self.idle_redis: dict[str, float] = {}
        self.profile_top: dict[str, tuple[Path, list[str]]] = {}  # burst -> file, top
        self.path = ""
        self.failed: list[str] = []
        self.users = iter(range(100_000))  # bench users (U0B00000…), one a declare

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=120)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
            self.http = http
            async with http.get(f"{self.spec['slack_url']}bench/info") as r:
                self.info = await r.json()
            self.secret = self.info["signing_secret"]
            self.feed = Feed(http, self.spec["slack_url"])
            feeding = asyncio.create_task(self.feed.run())
            self.redis = aioredis.Redis.from_url(self.spec["redis_url"])
            # a replica of the bot that is never started: only the store and the schedule
            self.replica: Bot = build(Settings(), load_config(Settings().incident_config))
            phases = (
                self.idle,
                self.declares,
                self.clicks,
                self.alerts,
                self.reminders,
                self.escalations,
                self.critical_path,
            )
            only = self.spec.get("only") or []
            try:
                for phase in phases:
                    if only and phase.__name__ not in only:
                        continue
                    try:
                        await phase()
                    except Exception:  # the other phases still measure; the run fails
                        self.failed.append(phase.__name__)
                        traceback.print_exc()
            finally:
                feeding.cancel()
                await self.replica.services.store.redis.aclose()
                await self.redis.aclose()
        self.print_table()

    def note(self, text: str) -> None:
        print(f"  … {text}", file=sys.stderr, flush=True)

    # -- 10. idle -------------------------------------------------------------------------
    async def idle(self) -> None:
        seconds = self.sizes["idle"]
        await quiet(self.pid, 0.0)  # the start-up's own work done
        cpu0, redis0, t0 = cpu_seconds(self.pid), await command_counts(self.redis), time.time()
        await asyncio.sleep(seconds)  # the idle window measured
        cpu1, redis1, t1 = cpu_seconds(self.pid), await command_counts(self.redis), time.time()
        self.idle_cpu = (cpu1 - cpu0) / (t1 - t0)
        self.idle_redis = {k: (redis1[k] - redis0[k]) / (t1 - t0) for k in redis1}
        rss = rss_mib(self.pid)
        self.rows["rss"] = Row(
            f"{rss:.1f} MiB",
            rss <= 80,
            f"after start, before load; idle: {self.idle_cpu * 1000:.1f} ms CPU/s, "
            f"{sum(self.idle_redis.values()):.1f} Redis commands/s",
        )

    # -- 1-5. the declare burst ------------------------------------------------------------
    async def prepare(self, text: str, user: str, channel: str) -> dict[str, Any]:
        spec = {"kind": "slash", "user": user, "channel": channel, "text": text}
        async with self.http.post(f"{self.spec['slack_url']}bench/prepare", json=spec) as r:
            return dict((await r.json())["payload"])

    async def declare_payloads(self, n: int, severity: str, tag: str) -> list[dict[str, Any]]:
        general = self.info["general"]
        return [
            await self.prepare(
                f"declare {severity} Bench {tag} {i:05d}",
                f"U0B{next(self.users):05d}",
                general,
            )
            for i in range(n)
        ]

    def set_up(self, tag: str, i: int) -> tuple[str | None, str | None, float | None]:
        """(incident, channel, when its pinned card and announcement were both seen)."""
        channel = self.feed.channels.get(f"bench-{tag}-{i:05d}")
        incident = self.feed.cards.get(channel or "")
        if channel is None or incident is None or channel not in self.feed.pins:
            return incident, channel, None
        announced = self.feed.marked.get(f"announce:{incident}")
        if not announced:
            return incident, channel, None
        return incident, channel, max(self.feed.pins[channel], announced[0]["at"])

    def told(self, payload: dict[str, Any]) -> float | None:
        token = str(payload["response_url"]).rpartition("/")[2]
        by_ephemeral = f"{payload['channel_id']}/{payload['user_id']}"
        return self.feed.told.get(token) or self.feed.told.get(by_ephemeral)

    async def declare_and_wait(
        self, n: int, severity: str, tag: str, concurrency: int
    ) -> tuple[list[dict[str, Any]], list[Sent], bool]:
        prepared = await self.declare_payloads(n, severity, tag)
        sent = await burst(self.http, self.bot_url, self.secret, prepared, concurrency)

        def all_done() -> bool:
            return all(
                self.set_up(tag, i)[2] is not None and self.told(p) is not None
                for i, p in enumerate(prepared)
            )

        done = await self.feed.until(all_done, self.sizes["give_up"])
        return prepared, sent, done

    async def declares(self) -> None:
        n, concurrency = self.sizes["declares"], self.sizes["concurrency"]
        self.note(f"bare Bolt: {n} /incident declare, {concurrency} at a time")
        bare_payloads = await self.declare_payloads(n, "SEV2", "bare")
        bare = await burst(
            self.http, self.spec["bare_url"], self.secret, bare_payloads, concurrency
        )
        self.note(f"the bot: {n} /incident declare, {concurrency} at a time")
        profiler = self.start_profile("declares")
        cpu0, redis0, t0 = cpu_seconds(self.pid), await command_counts(self.redis), time.time()
        prepared, sent, done = await self.declare_and_wait(n, "SEV2", "burst", concurrency)
        await quiet(self.pid, self.idle_cpu)
        cpu1, redis1, t1 = cpu_seconds(self.pid), await command_counts(self.redis), time.time()
        self.stop_profile("declares", profiler)

        bad = sum(1 for s in [*sent, *bare] if s.status != 200)
        ours, theirs = p99([s.ack for s in sent]), p99([s.ack for s in bare])
        ratio = ours / theirs
        self.rows["ack"] = Row(
            f"{ratio:.2f}×",
            ratio <= 1.3,
            f"bot {ours * 1000:.0f} ms, bare Bolt {theirs * 1000:.0f} ms; {n} declares, "
            f"{concurrency} at a time; non-200 answers {bad}",
        )
        setup = [
            at - s.at for i, s in enumerate(sent) if (at := self.set_up("burst", i)[2]) is not None
        ]
        told = [at - s.at for p, s in zip(prepared, sent, strict=True) if (at := self.told(p))]
        seen = "" if done else f"; only {len(setup)}/{n} set up, {len(told)}/{n} told"
        self.rows["setup"] = Row(
            f"{p99(setup):.2f} s",
            p99(setup) <= 1.5 and done,
            f"p50 {percentile(setup, 50):.2f} s{seen}",
        )
        self.rows["told"] = Row(
            f"{p99(told):.2f} s", p99(told) <= 2 and done, f"p50 {percentile(told, 50):.2f} s"
        )
        window = t1 - t0
        delta = {k: redis1[k] - redis0[k] - self.idle_redis.get(k, 0) * window for k in redis1}
        per = {k: v / n for k, v in delta.items()}
        total = sum(per.values())
        top = ", ".join(f"{k} {v:.1f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1])[:6])
        self.rows["redis"] = Row(
            f"{total:.0f} ({per.get('multi', 0):.1f} MULTI)",
            total <= 40 and per.get("multi", 0) <= 3,
            f"WATCH {per.get('watch', 0):.1f}, EXEC {per.get('exec', 0):.1f}; top: {top} "
            "(idle rate subtracted)",
        )
        cpu = (cpu1 - cpu0 - self.idle_cpu * window) / n * 1000
        self.rows["cpu"] = Row(
            f"{cpu:.1f} ms",
            cpu <= 6,
            f"{cpu1 - cpu0:.1f} s CPU over {window:.1f} s (idle rate subtracted)",
        )

    # -- 6. runbook clicks ------------------------------------------------------------------
    async def clicks(self) -> None:
        n, rounds = self.sizes["clickers"], self.sizes["rounds"]
        self.note(f"runbook clicks: {n} clickers × {rounds} clicks")
        latencies, detail = await clicks.run(self, n, rounds)
        value = p99(latencies)
        self.rows["click"] = Row(f"{value * 1000:.0f} ms", value <= 0.15, detail)

    # -- 9. alerts ---------------------------------------------------------------------------
    async def alerts(self) -> None:
        total, concurrency = self.sizes["alerts"], self.sizes["alert_concurrency"]
        self.note(f"Alertmanager: {total} POSTs of one alert, {concurrency} at a time")
        bodies = payloads(total, 1)
        url = self.spec["bot_http"] + "/alerts/alertmanager"
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        statuses: Counter[int] = Counter()
        gate = asyncio.Semaphore(concurrency)

        async def post(body: bytes) -> None:
            async with gate, self.http.post(url, data=body, headers=headers) as r:
                await r.read()
                statuses[r.status] += 1

        profiler = self.start_profile("alerts")
        cpu0, own0, began = cpu_seconds(self.pid), time.process_time(), time.perf_counter()
        await asyncio.gather(*(post(b) for b in bodies))
        took = time.perf_counter() - began
        cpu = (cpu_seconds(self.pid) - cpu0) / total * 1000
        own = (time.process_time() - own0) / total * 1000
        self.stop_profile("alerts", profiler)
        alerts = self.replica.services.alerts
        store = self.replica.services.store
        assert alerts is not None

        # every rule's group declares, paced by the Slack budgets: settled() alone is true
        # while a declaration waits its turn, and a duplicate could come after the count
        rules = {r.alertname for r in alerts.settings.rules} & set(NAMES)

        async def settled() -> bool:
            found = [i for i in await store.recent_incidents(limit=1000) if i.alertname]
            declared = {i.alertname for i in found} >= rules
            return declared and await alerts.settled() and all(i.channel_id for i in found)

        deadline = time.monotonic() + self.sizes["give_up"]
        while not await settled() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)  # polling another process's state: a bench, not a test
        await quiet(self.pid, self.idle_cpu)
        found = Counter(
            i.alertname for i in await store.recent_incidents(limit=1000) if i.alertname
        )
        posted = Counter(
            c["text"].split()[1]
            for c in self.feed.calls
            if c["m"] == "chat.postMessage" and c["text"].startswith("Alert ")
        )
        duplicates = sum(k - 1 for k in found.values() if k > 1)
        duplicates += sum(k - 1 for name, k in posted.items() if k > 1 and name in NAMES)
        rate = total / took
        self.rows["alerts"] = Row(
            f"{rate:,.0f}/s, {duplicates} duplicates",
            rate >= 3000 and duplicates == 0 and set(statuses) == {200},
            f"{total} POSTs in {took:.2f} s, answers {dict(statuses)}; CPU a POST meanwhile: "
            f"the bot's {cpu:.2f} ms, the load's {own:.2f} ms; {sum(found.values())} incidents "
            "from alerts",
        )

    # -- 7. reminders --------------------------------------------------------------------------
    async def reminders(self) -> None:
        n = self.sizes["incidents"]
        self.note(f"reminders: declaring {n} SEV1 incidents")
        await self.declare_and_wait(n, "SEV1", "sev1", self.sizes["seed_concurrency"])
        await quiet(self.pid, self.idle_cpu)
        svc = self.replica.services
        assert svc.reminders is not None
        self.sev1 = [
            i
            for i in await svc.store.open_incidents(limit=100_000)
            if i.title.startswith("Bench sev1")
        ]
        every = svc.reminders.every("SEV1")
        window = self.sizes["window"]
        start = time.time() + 2 + 0.01 * len(self.sev1)
        self.note(f"reminders: {len(self.sev1)} due over {window:g} s")
        due: dict[str, float] = {}
        for k, incident in enumerate(self.sev1):
            at = start + window * k / max(1, len(self.sev1))
            await svc.reminders.restart(incident, anchor=at - every)
            due.update(await self.due(incident.id, REMINDER))
        what = f"open SEV1 reminders posted, due over {window:g} s"
        self.rows["reminder"] = await self.lateness(due, what)

    async def due(self, incident: str, kind: str) -> dict[str, float]:
        """The incident's pending `kind` due-items, from the store: the marker of the
        message each posts (`due:<token>`, bot/core/schedule.py) -> its due time."""
        scheduler = self.replica.services.scheduler
        assert scheduler is not None
        items = await scheduler.pending(incident)
        return {f"due:{i.token}": i.due_at for i in items if i.kind == kind}

    async def lateness(self, due: dict[str, float], what: str) -> Row:
        """From each due time to the fake's seeing the message so marked: p99 (goal
        0.25 s), how many came, how many came twice."""
        last = max(due.values(), default=time.time())
        marked = self.feed.marked
        await self.feed.until(
            lambda: all(m in marked for m in due), last - time.time() + self.sizes["give_up"]
        )
        late = [marked[m][0]["at"] - at for m, at in due.items() if m in marked]
        dupes = sum(len(marked[m]) - 1 for m in due if m in marked)
        value = p99(late)
        return Row(
            f"{value:.2f} s",
            value <= 0.25,
            f"{len(late)} of {len(due)} {what}; p50 {percentile(late, 50):.2f} s, "
            f"max {max(late, default=math.nan):.2f} s; posted twice {dupes}",
        )

    # -- 8. escalations ------------------------------------------------------------------------
    async def escalations(self) -> None:
        svc = self.replica.services
        assert svc.escalations is not None
        chosen = self.sev1[: self.sizes["escalations"]]
        steps = self.spec["matrix_after"]  # seconds; the config's SEV1 matrix
        self.note(f"escalations: {len(chosen)} incidents × {len(steps)} steps")
        due: dict[str, float] = {}
        for incident in chosen:
            # the matrix as if started an hour ago: its steps come due 2, 3, 4 s from now
            since = time.time() + 2 - steps[0]
            fresh = await svc.store.get(incident.id)
            assert fresh is not None
            await svc.escalations.start(fresh, since=since)
            due.update(await self.due(incident.id, ESCALATION_STEP))
        self.rows["escalation"] = await self.lateness(due, "matrix steps fired, due within 3 s")

    # -- besides the table: the Slack critical path -------------------------------------
    async def critical_path(self, latency: float = 0.25) -> None:
        """One declare with every Slack call answered `latency` late: how many of its calls
        are one after another (the floor: create, post the card, pin)."""
        slack = self.spec["slack_url"]
        async with self.http.post(f"{slack}bench/latency", json={"seconds": latency}):
            pass
        try:
            [payload] = await self.declare_payloads(1, "SEV2", "path")
            first = len(self.feed.calls)
            [sent] = await burst(self.http, self.bot_url, self.secret, [payload], 1)
            await self.feed.until(lambda: self.set_up("path", 0)[2] is not None, 60)
        finally:
            async with self.http.post(f"{slack}bench/latency", json={"seconds": 0}):
                pass
        done = self.set_up("path", 0)[2]
        if done is None:
            self.path = "the declare was not set up"
            return
        calls = [c for c in self.feed.calls[first:] if c["at"] <= done and c["m"] != "response_url"]
        took = done - sent.at
        self.path = (
            f"{int(took // latency)} sequential Slack calls: set up {took * 1000:.0f} ms after "
            f"the command with {latency * 1000:.0f} ms added to each of its {len(calls)} calls"
        )

    # -- profile -------------------------------------------------------------------------------
    def profile_file(self, burst: str) -> Path:
        """The declare burst's profile is FILE itself, the others' FILE-clicks, FILE-alerts."""
        out = Path(self.spec["profile"])
        return out if burst == "declares" else out.with_name(f"{out.stem}-{burst}{out.suffix}")

    def start_profile(self, burst: str) -> subprocess.Popen[bytes] | None:
        if not self.spec.get("profile"):
            return None
        out = self.profile_file(burst)
        out.unlink(missing_ok=True)
        # --gil: only the thread holding the GIL, i.e. the bot's CPU, not its waits; 400
        # samples a second: enough to rank a 300-declare burst's frames
        command = ["py-spy", "record", "--nonblocking", "--gil", "--rate", "400"]
        command += ["--pid", str(self.pid)]
        command += ["--format", "raw", "-o", str(out)]
        try:
            return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except FileNotFoundError:
            self.note("py-spy is not installed (pip install py-spy): no profile")
            return None

    def stop_profile(self, burst: str, profiler: subprocess.Popen[bytes] | None) -> None:
        if profiler is None:
            return
        profiler.send_signal(signal.SIGINT)
        _, err = profiler.communicate(timeout=60)
        out = self.profile_file(burst)
        if not out.exists():
            self.note(f"py-spy wrote no profile: {err.decode(errors='replace').strip()[-300:]}")
            return
        self.profile_top[burst] = (out, top_frames(out))

    # -- the table -----------------------------------------------------------------------------
    def print_table(self) -> None:
        width = max(len(label) for _, label, _ in FIGURES)
        print(f"\n{'figure':<{width}}  {'measured':>24}  {'goal':<24}  met")
        for key, label, goal in FIGURES:
            row = self.rows.get(key, Row("not measured", None))
            met = {True: "yes", False: "no", None: "-"}[row.ok]
            print(f"{label:<{width}}  {row.shown:>24}  {goal:<24}  {met}")
            if row.detail:
                print(f"    {row.detail}")
        if self.path:
            print(f"\nbesides: the declare's Slack critical path: {self.path}")
        for name, (where, top) in self.profile_top.items():
            what = {
                "declares": "the declare burst",
                "clicks": "the runbook clicks",
                "alerts": "the Alertmanager burst",
            }[name]
            print(f"\npy-spy of the bot during {what} ({where}):")
            for line in top:
                print(f"  {line}")


OWN_CODE = re.compile(r"^(.*) \(((?:bot|handlers|blocks)/[^:]+):\d+\)$")
ROOTS = ("bot/__main__.py", "bot/cli.py")


def top_frames(path: Path, count: int = 12) -> list[str]:
    """From a py-spy raw file (collapsed stacks): the leaf frames with the most samples,
    then the bot's own functions by samples under them (inclusive)."""
    leaves: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        n = int(samples)
        frames = stack.split(";")
        leaves[frames[-1]] += n
        total += n
        matches = (OWN_CODE.match(f) for f in frames)
        own = {f"{m.group(1)} ({m.group(2)})" for m in matches if m and m.group(2) not in ROOTS}
        for frame in own:
            inclusive[frame] += n
    if not total:
        return []
    out = ["own samples:"]
    out += [f"{n / total:6.1%}  {frame}" for frame, n in leaves.most_common(count)]
    out.append("the bot's functions, inclusive:")
    out += [f"{n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(count)]
    return out


def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # the replica's own warnings are not the bench's
    spec = json.loads(Path(sys.argv[1]).read_text())
    load = Load(spec)
    asyncio.run(load.run())
    if load.failed:
        sys.exit(f"phases that failed: {', '.join(load.failed)}")


if __name__ == "__main__":
    main()

"""Runbooks as checklists in the incident channel, through real HTTP, real Redis, fake Slack.

Post, click (Done, Skip, I'm on it, Undo), concurrent clicks, the ranked listing, posting
from the declare modal, and a team's own runbooks folder (override, broken file stops
start-up).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest

from blocks.runbooks import (
    ACTION_DONE,
    ACTION_POST,
    ACTION_SKIP,
    ACTION_TAKE,
    ACTION_UNDO,
    runbook_messages,
    step_value,
)
from blocks.runbooks import action_id as make_action_id
from bot.core.config import IncidentConfig, Settings
from bot.core.models import Incident, RunbookRun
from bot.preflight import SetupError
from bot.runbooks.library import StepState, default_runbooks_dir, next_step_state
from bot.server import build
from tests.integration.harness import Harness, eventually, start

ROOT = Path(__file__).resolve().parents[2]
USERS = ("U0ALICE", "U0BOB", "U0CAROL", "U0DAVE")


@pytest.fixture
async def h(redis_url: str) -> AsyncIterator[Harness]:
    harness = await start(redis_url)
    yield harness
    await harness.stop()


# -- helpers ------------------------------------------------------------------------------


async def declare(h: Harness, text: str = "SEV2 Database connection errors") -> tuple[str, str]:
    """Declare by command; (channel id, incident id) once the card is pinned."""
    before = {c.id for c in h.fake.channels.values()}
    await h.command(f"declare {text}")
    channel = await eventually(
        lambda: next(
            (
                c.id
                for c in h.fake.channels.values()
                if c.id not in before and c.name.startswith("inc-")
            ),
            None,
        )
    )
    await eventually(lambda: any(m.pinned for m in h.fake.messages[channel]))
    incident = await eventually(lambda: h.store.by_channel(channel))
    return channel, incident.id


async def posted(h: Harness, incident_id: str, runbook_id: str) -> RunbookRun:
    async def complete() -> RunbookRun | None:
        run_id = (await h.store.incident_runs(incident_id)).get(runbook_id)
        run = await h.store.get_run(run_id) if run_id else None
        return run if run and run.complete else None

    return await eventually(complete)  # type: ignore[no-any-return]


async def post(h: Harness, channel: str, incident_id: str, runbook_id: str) -> RunbookRun:
    ack = await h.command(f"runbook {runbook_id}", channel=channel)
    assert ack.status == 200
    return await posted(h, incident_id, runbook_id)


def step_text(h: Harness, run: RunbookRun, step_id: str) -> str:
    for ts in run.messages:
        message = h.fake.message(run.channel, ts)
        assert message is not None
        for block in message.blocks:
            if block.get("block_id") == f"rb-step-{step_id}":
                return str(block["text"]["text"])
    raise AssertionError(f"step {step_id} is not in the checklist")


def step_buttons(h: Harness, run: RunbookRun, step_id: str) -> list[str]:
    for ts in run.messages:
        message = h.fake.message(run.channel, ts)
        assert message is not None
        for block in message.blocks:
            if block.get("block_id") == f"rb-act-{step_id}":
                return [e["text"]["text"] for e in block["elements"]]
    raise AssertionError(f"step {step_id} has no buttons")


def progress_line(h: Harness, run: RunbookRun) -> str:
    message = h.fake.message(run.channel, run.messages[0])
    assert message is not None
    block = next(b for b in message.blocks if b.get("block_id") == "rb-top-1")
    return str(block["elements"][0]["text"])


def part_of(h: Harness, run: RunbookRun, step_id: str) -> str:
    for ts in run.messages:
        message = h.fake.message(run.channel, ts)
        assert message is not None
        if any(b.get("block_id") == f"rb-step-{step_id}" for b in message.blocks):
            return ts
    raise AssertionError(step_id)


async def click(h: Harness, user: str, run: RunbookRun, step_id: str, action: str) -> Any:
    ack = await h.fake.click(
        user,
        run.channel,
        part_of(h, run, step_id),
        make_action_id(action, step_id),
        value=step_value(run.id, step_id),
    )
    assert ack.status == 200
    return ack


def count_clicks(h: Harness, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Finished click() calls: a click returns only after every sync it took part in,
    so when all have returned, nothing more will reach Slack."""
    finished: list[object] = []
    service = h.bot.services.checklists
    assert service is not None
    original = service.click

    async def counted(*args: Any, **kwargs: Any) -> Any:
        try:
            return await original(*args, **kwargs)
        finally:
            finished.append(args)

    monkeypatch.setattr(service, "click", counted)
    return finished


async def stored_states(h: Harness, run: RunbookRun) -> dict[str, StepState]:
    snapshot = await h.store.run_snapshot(run.id)
    assert snapshot is not None
    return snapshot.states


async def assert_slack_shows_the_store(h: Harness, run: RunbookRun) -> None:
    """Every part of the checklist in Slack is exactly the rendering of the stored state."""
    await h.settled()
    runbook = h.bot.services.runbooks[run.runbook]
    expected = runbook_messages(runbook, await stored_states(h, run), run_id=run.id)
    shown = [h.fake.message(run.channel, ts) for ts in run.messages]
    assert [m.blocks if m else None for m in shown] == expected


async def step_entries(h: Harness, incident_id: str, step_id: str) -> list[str]:
    return [
        e.text
        for e in await h.store.timeline(incident_id)
        if e.kind == "runbook_step" and e.text.startswith(f"Step {step_id} ")
    ]


def replay(entries: list[str], actors: list[str | None]) -> StepState:
    """Re-apply a step's timeline: each entry must be an effective change of the one
    before, and the chain must end in the stored state."""
    verbs = {"done": "done", "skipped": "skip", "taken": "take", "reopened": "undo"}
    state = StepState()
    for text, actor in zip(entries, actors, strict=True):
        verb = text.split(" ", 3)[2].rstrip(":")
        assert actor is not None
        nxt = next_step_state(state, verbs[verb], user=actor, at=0)  # type: ignore[arg-type]
        assert nxt is not None, f"{text!r} changed nothing after {state}"
        state = nxt
    return state


async def gather_clicks(clicks: list[Awaitable[Any]]) -> None:
    # started together: every click finds its button before any answer comes back
    await asyncio.gather(*clicks)


# -- posting ------------------------------------------------------------------------------


async def test_every_shipped_runbook_posts_within_slack_limits(h: Harness) -> None:
    channel, incident_id = await declare(h)
    shipped = sorted(p.stem for p in default_runbooks_dir().glob("*.yaml"))
    assert len(shipped) == 12
    for runbook_id in shipped:
        run = await post(h, channel, incident_id, runbook_id)
        runbook = h.bot.services.runbooks[runbook_id]
        assert run.parts == len(runbook_messages(runbook, {}, run_id=run.id))
        first = h.fake.message(channel, run.messages[0])
        assert first is not None and runbook.title in first.text
        assert f"0 of {len(runbook.steps())} done" in progress_line(h, run)
        await assert_slack_shows_the_store(h, run)
    await h.settled()
    refused = [
        (c.method, c.error) for c in h.fake.calls if not c.ok and c.method.startswith("chat.")
    ]
    assert refused == []  # the fake rejects Block Kit over Slack's limits
    entries = [e.text for e in await h.store.timeline(incident_id) if e.kind == "runbook"]
    assert len(entries) == 12


async def test_a_long_team_runbook_splits_across_messages(redis_url: str, tmp_path: Path) -> None:
    steps = "\n".join(f"      - text: Step number {i} of the long procedure" for i in range(120))
    (tmp_path / "long-one.yaml").write_text(
        f"title: A very long procedure\nphases:\n  - id: investigation\n    steps:\n{steps}\n"
    )
    h = await start(redis_url, IncidentConfig(runbooks_dir=tmp_path))
    try:
        channel, incident_id = await declare(h)
        run = await post(h, channel, incident_id, "long-one")
        assert run.parts >= 3 and len(run.messages) == run.parts
        last_step = h.bot.services.runbooks["long-one"].steps()[-1].id
        assert part_of(h, run, last_step) == run.messages[-1]
        await click(h, "U0BOB", run, last_step, ACTION_DONE)
        await eventually(lambda: "1 of 120 done" in progress_line(h, run))
        assert "Done by <@U0BOB>" in step_text(h, run, last_step)
        await h.settled()
        assert [c.error for c in h.fake.calls if not c.ok and c.method.startswith("chat.")] == []
    finally:
        await h.stop()


async def test_asking_again_points_at_the_posted_checklist(h: Harness) -> None:
    channel, incident_id = await declare(h)
    run = await post(h, channel, incident_id, "redis-down")
    await h.command("runbook redis-down", channel=channel)
    reply = await eventually(lambda: [m for m in h.ephemerals() if "already posted" in m.text])
    assert "/archives/" in reply[0].text  # a permalink to it
    await h.settled()
    assert len([m for m in h.fake.messages[channel] if "Runbook:" in m.text]) == run.parts


async def test_a_part_slack_refused_is_finished_by_asking_again(h: Harness) -> None:
    channel, incident_id = await declare(h)
    # let the declaration's own notices land first, so the failure hits the checklist
    await eventually(lambda: any("Paging is off" in m.text for m in h.fake.messages[channel]))
    h.fake.fail("chat.postMessage", error="internal_error", times=1)
    await h.command("runbook database-down", channel=channel)
    warning = await eventually(lambda: [m for m in h.ephemerals() if "refused part 1" in m.text])
    assert "/incident runbook database-down" in warning[0].text
    await h.command("runbook database-down", channel=channel)
    run = await posted(h, incident_id, "database-down")  # the second attempt completes it
    assert len(run.messages) == 2


# -- clicks -------------------------------------------------------------------------------


async def test_take_done_undo_skip_update_the_message_for_everyone(h: Harness) -> None:
    channel, incident_id = await declare(h)
    run = await post(h, channel, incident_id, "database-down")
    runbook = h.bot.services.runbooks["database-down"]
    first, second = runbook.steps()[0].id, runbook.steps()[1].id
    last = runbook.steps()[-1].id
    assert part_of(h, run, last) == run.messages[1]  # the second message
    updates: list[dict[str, Any]] = []
    h.fake.subscribe(lambda e: updates.append(e) if e["type"] == "message_changed" else None)

    await click(h, "U0BOB", run, first, ACTION_TAKE)
    await eventually(lambda: "<@U0BOB> is on it" in step_text(h, run, first))
    assert step_buttons(h, run, first) == ["Done", "Skip", "I'm on it"]
    assert "<@U0BOB> is on it" in str(updates[-1]["message"]["blocks"])  # via chat.update

    await click(h, "U0CAROL", run, first, ACTION_DONE)
    await eventually(lambda: "Done by <@U0CAROL>" in step_text(h, run, first))
    assert "<!date^" in step_text(h, run, first)  # and when, in the reader's timezone
    assert step_buttons(h, run, first) == ["Undo"]
    assert "1 of 25 done" in progress_line(h, run)

    await click(h, "U0ALICE", run, first, ACTION_UNDO)
    await eventually(lambda: "0 of 25 done" in progress_line(h, run))
    assert step_buttons(h, run, first) == ["Done", "Skip", "I'm on it"]
    assert "Done by" not in step_text(h, run, first)

    await click(h, "U0BOB", run, second, ACTION_SKIP)
    await eventually(lambda: "Skipped by <@U0BOB>" in step_text(h, run, second))
    assert "1 of 25 done* (1 skipped)" in progress_line(h, run)

    # a step in the second message: that message and the first (progress) change
    await click(h, "U0DAVE", run, last, ACTION_DONE)
    await eventually(lambda: "2 of 25 done" in progress_line(h, run))
    assert "Done by <@U0DAVE>" in step_text(h, run, last)
    changed = {e["message"]["ts"] for e in updates[-2:]}
    assert changed == set(run.messages)

    # "I'm on it" by the one already on it changes nothing, and adds nothing to the timeline
    third = runbook.steps()[2].id
    await click(h, "U0DAVE", run, third, ACTION_TAKE)
    await eventually(lambda: "<@U0DAVE> is on it" in step_text(h, run, third))
    await click(h, "U0DAVE", run, third, ACTION_TAKE)
    entries = [e for e in await h.store.timeline(incident_id) if e.kind == "runbook_step"]
    assert [(e.actor, e.text.split(":")[0]) for e in entries] == [
        ("U0BOB", "Step p1-s1 taken"),
        ("U0CAROL", "Step p1-s1 done"),
        ("U0ALICE", "Step p1-s1 reopened"),
        ("U0BOB", "Step p1-s2 skipped"),
        ("U0DAVE", f"Step {last} done"),
        ("U0DAVE", "Step p1-s3 taken"),
    ]
    assert entries[1].text == (
        "Step p1-s1 done: Readiness endpoint returns 503 with the database check failing "
        "(database-down)"
    )
    await assert_slack_shows_the_store(h, run)


async def test_twenty_clicks_on_one_step_end_in_one_state(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel, incident_id = await declare(h)
    run = await post(h, channel, incident_id, "high-error-rate")
    steps = [s.id for s in h.bot.services.runbooks["high-error-rate"].steps()]
    finished = count_clicks(h, monkeypatch)

    # 20 people press Done on the same step at the same moment: one change
    await gather_clicks([click(h, USERS[i % 4], run, steps[0], ACTION_DONE) for i in range(20)])
    await eventually(lambda: len(finished) == 20)
    assert len(await step_entries(h, incident_id, steps[0])) == 1
    state = (await stored_states(h, run))[steps[0]]
    assert state.status == "done" and f"Done by <@{state.by}>" in step_text(h, run, steps[0])
    await assert_slack_shows_the_store(h, run)

    # ... and 20 Undo: one change back
    await gather_clicks([click(h, USERS[i % 4], run, steps[0], ACTION_UNDO) for i in range(20)])
    await eventually(lambda: len(finished) == 40)
    assert len(await step_entries(h, incident_id, steps[0])) == 2
    assert (await stored_states(h, run))[steps[0]].status == "open"
    await assert_slack_shows_the_store(h, run)

    # 20 mixed clicks (takes by four people hand the step over): whatever order they
    # landed in, the step's timeline replays, change by change, to the stored state
    actions = (ACTION_DONE, ACTION_SKIP, ACTION_TAKE, ACTION_TAKE, ACTION_TAKE)
    await gather_clicks([click(h, USERS[i % 4], run, steps[1], actions[i % 5]) for i in range(20)])
    await eventually(lambda: len(finished) == 60)
    timeline = [
        e
        for e in await h.store.timeline(incident_id)
        if e.kind == "runbook_step" and e.text.startswith(f"Step {steps[1]} ")
    ]
    final = replay([e.text for e in timeline], [e.actor for e in timeline])
    stored = (await stored_states(h, run))[steps[1]]
    assert (final.status, final.by) == (stored.status, stored.by)
    assert stored.status in ("done", "skipped", "taken")
    await assert_slack_shows_the_store(h, run)


async def test_clicks_on_every_step_at_once_all_persist(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel, incident_id = await declare(h)
    run = await post(h, channel, incident_id, "database-down")  # two messages
    steps = [s.id for s in h.bot.services.runbooks["database-down"].steps()]
    finished = count_clicks(h, monkeypatch)
    clicks = [click(h, USERS[i % 4], run, step, ACTION_DONE) for i, step in enumerate(steps)]
    clicks += [click(h, USERS[(i + 1) % 4], run, step, ACTION_TAKE) for i, step in enumerate(steps)]
    await gather_clicks(clicks)
    await eventually(lambda: len(finished) == 2 * len(steps))

    states = await stored_states(h, run)
    assert all(states[s].status == "done" for s in steps)
    assert f"{len(steps)} of {len(steps)} done" in progress_line(h, run)
    for step in steps:
        # a take that landed first is its own change; the done is always there once
        entries = await step_entries(h, incident_id, step)
        assert [e.split(":")[0].split()[-1] for e in entries] in (["done"], ["taken", "done"])
    await assert_slack_shows_the_store(h, run)


async def test_a_click_on_a_stale_message_heals_it(h: Harness) -> None:
    channel, incident_id = await declare(h)
    run = await post(h, channel, incident_id, "redis-down")
    step = h.bot.services.runbooks["redis-down"].steps()[0].id
    h.fake.fail("chat.update", error="internal_error", times=1)
    await click(h, "U0BOB", run, step, ACTION_TAKE)
    await eventually(lambda: len(h.fake.calls_to("chat.update")) == 1)
    assert "is on it" not in step_text(h, run, step)  # Slack refused the update
    await click(h, "U0CAROL", run, step, ACTION_TAKE)
    await eventually(lambda: "<@U0CAROL> is on it" in step_text(h, run, step))
    await assert_slack_shows_the_store(h, run)


# -- listing ------------------------------------------------------------------------------


def listed(message: Any) -> list[str]:
    return [
        b["block_id"].removeprefix("rb-list-")
        for b in message.blocks
        if str(b.get("block_id", "")).startswith("rb-list-")
    ]


async def test_listing_ranks_the_incidents_runbooks_first_and_posts_from_it(h: Harness) -> None:
    channel, incident_id = await declare(h, "SEV2 Database connection errors")
    await h.command("runbook", channel=channel)
    first = await eventually(lambda: [m for m in h.ephemerals() if m.text == "Runbooks"])
    order = listed(first[0])
    assert order[0] == "database-down" and len(order) == 12
    assert sorted(order) == sorted(h.bot.services.runbooks)

    # an alert outranks the title
    def from_alert(inc: Incident) -> None:
        inc.alertname = "HighErrorRate"

    await h.store.update(incident_id, from_alert)
    await h.command("runbook", user="U0BOB", channel=channel)
    second = await eventually(lambda: [m for m in h.ephemerals("U0BOB") if m.text == "Runbooks"])
    assert listed(second[0])[:2] == ["high-error-rate", "database-down"]

    # an unknown id: the same list, with one line saying so
    await h.command("runbook nosuch", user="U0CAROL", channel=channel)
    third = await eventually(lambda: [m for m in h.ephemerals("U0CAROL") if "nosuch" in m.text])
    assert "No runbook nosuch." in str(third[0].blocks)
    assert listed(third[0]) == listed(second[0])

    # the Post button posts it into the incident channel
    ack = await h.fake.click(
        "U0BOB",
        channel,
        second[0].ts,
        make_action_id(ACTION_POST, "high-error-rate"),
    )
    assert ack.status == 200
    run = await posted(h, incident_id, "high-error-rate")
    assert run.posted_by == "U0BOB" and run.channel == channel


async def test_listing_outside_an_incident_channel_has_no_post_buttons(h: Harness) -> None:
    await h.command("runbook")
    reply = await eventually(lambda: [m for m in h.ephemerals() if m.text == "Runbooks"])
    assert len(listed(reply[0])) == 12 and "button" not in str(reply[0].blocks)
    await h.command("runbook redis-down")
    refusal = await eventually(lambda: [m for m in h.ephemerals() if "works inside" in m.text])
    assert refusal


# -- declaring with a runbook -----------------------------------------------------------


async def test_the_modals_runbook_is_posted_right_after_the_summary_card(h: Harness) -> None:
    await h.command("declare")
    view_id = await eventually(lambda: next(iter(h.fake.views), None))
    view = h.fake.views[view_id]
    select = next(b for b in view["blocks"] if b.get("block_id") == "runbook")
    assert {o["value"] for o in select["element"]["options"]} == set(h.bot.services.runbooks)
    ack = await h.fake.submit_view(
        "U0ALICE",
        view_id,
        {"title": {"title": "Redis keeps timing out"}, "runbook": {"runbook": "redis-down"}},
    )
    assert ack.status == 200 and not ack.errors
    incident = await eventually(lambda: _only_incident(h))
    assert incident.runbook == "redis-down"
    run = await posted(h, incident.id, "redis-down")
    channel = h.fake.messages[run.channel]
    card = next(i for i, m in enumerate(channel) if m.ts == incident.card_ts)
    first = next(i for i, m in enumerate(channel) if m.ts == run.messages[0])
    assert card < first
    entry = next(e for e in await h.store.timeline(incident.id) if e.kind == "runbook")
    assert entry.actor == "U0ALICE"


async def test_an_alert_rules_runbook_is_posted_and_an_unknown_one_said(h: Harness) -> None:
    incidents = h.bot.services.incidents
    incident = await incidents.declare(
        title="Error rate above 5%",
        severity="SEV2",
        by="U0ALICE",
        source="alert",
        runbook="high-error-rate",
    )
    run = await posted(h, incident.id, "high-error-rate")
    assert run.posted_by is None and run.channel == (await h.incident(incident.id)).channel_id

    other = await incidents.declare(
        title="Something odd", severity="SEV3", by="U0ALICE", source="alert", runbook="gone"
    )

    async def said() -> list[str]:
        channel = (await h.incident(other.id)).channel_id
        return [
            m.text for m in h.fake.messages.get(channel or "", []) if "No runbook gone" in m.text
        ]

    assert await eventually(said)
    await h.settled()
    assert await h.store.incident_runs(other.id) == {}


async def _only_incident(h: Harness) -> Incident | None:
    found = await h.store.open_incidents()
    return found[0] if len(found) == 1 and found[0].card_ts else None


# -- a team's own runbooks ----------------------------------------------------------------

TEAM_REDIS = """\
title: Our Redis runbook
phases:
  - id: immediate
    steps:
      - text: Page the cache team
"""
BROKEN = """\
title: Broken one
phases:
  - id: immediate
    steps:
      - txt: a typo
"""


async def test_a_teams_runbook_overrides_ours(redis_url: str, tmp_path: Path) -> None:
    (tmp_path / "redis-down.yaml").write_text(TEAM_REDIS)
    h = await start(redis_url, IncidentConfig(runbooks_dir=tmp_path))
    try:
        assert h.bot.services.runbooks["redis-down"].title == "Our Redis runbook"
        assert len(h.bot.services.runbooks) == 12
        channel, incident_id = await declare(h)
        run = await post(h, channel, incident_id, "redis-down")
        assert "Page the cache team" in step_text(h, run, "p1-s1")
        assert run.parts == 1
    finally:
        await h.stop()


def test_a_broken_team_runbook_stops_build_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken-one.yaml").write_text(BROKEN)
    settings = Settings(slack_bot_token="xoxb-x", slack_signing_secret="s")
    with pytest.raises(SetupError, match=r"broken-one\.yaml:5"):
        build(settings, IncidentConfig(runbooks_dir=tmp_path))


def run_bot(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # nothing that would point the child at real services
    scrub = ("SLACK_", "REDIS_", "PAGERDUTY_", "ALERTMANAGER_", "INCIDENT_CONFIG", "PORT")
    base = {k: v for k, v in os.environ.items() if not k.startswith(scrub)}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("tokens", [True, False], ids=["slack", "sandbox"])
def test_python_m_bot_exits_2_on_a_broken_team_runbook(tmp_path: Path, tokens: bool) -> None:
    team = tmp_path / "runbooks"
    team.mkdir()
    (team / "broken-one.yaml").write_text(BROKEN)
    config = tmp_path / "incident.yaml"
    config.write_text(f"runbooks_dir: {team}\n")
    env = {"INCIDENT_CONFIG": str(config), "PORT": "1"}
    if tokens:
        env |= {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "secret"}
    result = run_bot(env=env)
    assert result.returncode == 2, result.stderr
    assert "Cannot start" in result.stderr and str(team / "broken-one.yaml") in result.stderr
    assert "Traceback" not in result.stderr


def test_check_runbooks_exit_codes(tmp_path: Path) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    (good / "redis-down.yaml").write_text(TEAM_REDIS)
    (bad / "broken-one.yaml").write_text(BROKEN)
    ok = run_bot("check-runbooks", str(good), env={})
    assert ok.returncode == 0 and "overrides the shipped runbook" in ok.stdout
    broken = run_bot("check-runbooks", str(bad), env={})
    assert broken.returncode == 1 and "broken-one.yaml:5" in broken.stdout
    missing = run_bot("check-runbooks", str(tmp_path / "nope"), env={})
    assert missing.returncode == 2
    shipped = run_bot("check-runbooks", env={})
    assert shipped.returncode == 0, shipped.stdout
    assert "12 valid, 0 problem(s)" in shipped.stdout

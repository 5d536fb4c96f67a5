"""Runbooks as checklists in the incident channel, through real HTTP, real Redis, fake Slack.

Post, tick and untick steps, the step menu (I'm on it, Skip, Undo, Add a note), Show steps
and its buttons, a finished phase collapsing, concurrent clicks, the ranked listing,
posting from the declare modal, and a team's own runbooks folder (override, broken file
stops start-up, an unknown role).
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
    ACTION_MENU,
    ACTION_POST,
    ACTION_SHOW,
    ACTION_UNDO,
    menu_value,
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
    incident = await h.declare(text)
    channel = incident.channel_id
    assert channel
    await eventually(lambda: any(m.pinned for m in h.fake.messages[channel]))
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


def shown(h: Harness, run: RunbookRun) -> list[dict[str, Any]]:
    """The checklist's blocks as Slack holds them (it is one message)."""
    assert len(run.messages) == 1
    message = h.fake.message(run.channel, run.messages[0])
    assert message is not None
    return message.blocks


def box(h: Harness, run: RunbookRun, step_id: str) -> tuple[dict[str, Any], bool] | None:
    """A step's checkbox option and whether it is ticked; None in a collapsed phase."""
    for block in shown(h, run):
        for el in block.get("elements", []):
            if el.get("type") == "checkboxes":
                for option in el["options"]:
                    if option["value"] == step_id:
                        return option, option in el.get("initial_options", [])
    return None


def step_note(h: Harness, run: RunbookRun, step_id: str) -> str:
    """What the checklist says of a step beside its box: who is on it, did or skipped it."""
    found = box(h, run, step_id)
    assert found is not None, f"step {step_id} is not shown"
    return str(found[0].get("description", {}).get("text", ""))


def ticked(h: Harness, run: RunbookRun, step_id: str) -> bool:
    found = box(h, run, step_id)
    assert found is not None, f"step {step_id} is not shown"
    return found[1]


def menu(h: Harness, run: RunbookRun, step_id: str) -> list[str]:
    """The verbs in a step's overflow menu."""
    for block in shown(h, run):
        for el in block.get("elements", []):
            if el.get("action_id") == make_action_id(ACTION_MENU, step_id):
                return [o["value"].split("|")[0] for o in el["options"]]
    raise AssertionError(f"step {step_id} has no menu")


def progress_line(h: Harness, run: RunbookRun) -> str:
    block = next(b for b in shown(h, run) if b.get("block_id") == "rb-top-1")
    return str(block["elements"][0]["text"])


def phase_line(h: Harness, run: RunbookRun, phase_id: str) -> str:
    block = next(b for b in shown(h, run) if b.get("block_id") == f"rb-phase-{phase_id}")
    return str(block["text"]["text"])


async def tick(h: Harness, user: str, run: RunbookRun, step_id: str) -> Any:
    ack = await h.fake.tick(user, run.channel, run.messages[0], step_id)
    assert ack.status == 200
    return ack


async def choose(h: Harness, user: str, run: RunbookRun, step_id: str, verb: str) -> Any:
    ack = await h.fake.choose(user, run.channel, run.messages[0], menu_value(verb, run.id, step_id))
    assert ack.status == 200
    return ack


def count_clicks(h: Harness, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Finished ticks and menu choices, as the service returned them. A click whose sync
    found the run's lease taken returns at once and leaves the showing to the holder, which
    may be a sync no click made (the post's own, still under its lease): when all have
    returned, what Slack shows is the store's only once the bot has settled."""
    finished: list[object] = []
    service = h.bot.services.checklists
    for name in ("click", "tick"):
        original = getattr(service, name)

        async def counted(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
            try:
                return await __original(*args, **kwargs)
            finally:
                finished.append(args)

        monkeypatch.setattr(service, name, counted)
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


async def test_every_shipped_runbook_posts_as_one_compact_message(h: Harness) -> None:
    channel, incident_id = await declare(h)
    shipped = sorted(p.stem for p in default_runbooks_dir().glob("*.yaml"))
    assert len(shipped) == 12
    for runbook_id in shipped:
        run = await post(h, channel, incident_id, runbook_id)
        runbook = h.bot.services.runbooks[runbook_id]
        assert run.parts == 1
        first = h.fake.message(channel, run.messages[0])
        assert first is not None and runbook.title in first.text
        assert len(first.blocks) <= 25  # about one screen, every step a box
        assert f"0 of {len(runbook.steps())} done" in progress_line(h, run)
        assert all(box(h, run, s.id) is not None for s in runbook.steps())
        await assert_slack_shows_the_store(h, run)
    await h.settled()
    refused = [
        (c.method, c.error) for c in h.fake.calls if not c.ok and c.method.startswith("chat.")
    ]
    assert refused == []  # the fake rejects Block Kit over Slack's limits
    entries = [e.text for e in await h.store.timeline(incident_id) if e.kind == "runbook"]
    assert len(entries) == 12


async def test_a_long_team_runbook_is_one_message_too(redis_url: str, tmp_path: Path) -> None:
    steps = "\n".join(f"      - text: Step number {i} of the long procedure" for i in range(120))
    (tmp_path / "long-one.yaml").write_text(
        f"title: A very long procedure\nphases:\n  - id: investigation\n    steps:\n{steps}\n"
    )
    h = await start(redis_url, IncidentConfig(runbooks_dir=tmp_path))
    try:
        channel, incident_id = await declare(h)
        run = await post(h, channel, incident_id, "long-one")
        assert run.parts == 1 and len(shown(h, run)) <= 50  # twelve groups of ten boxes
        last_step = h.bot.services.runbooks["long-one"].steps()[-1].id
        await tick(h, "U0BOB", run, last_step)
        await eventually(lambda: "1 of 120 done" in progress_line(h, run))
        assert ticked(h, run, last_step) and "done by <@U0BOB>" in step_note(h, run, last_step)
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
    assert len(run.messages) == 1


# -- clicks -------------------------------------------------------------------------------


async def test_ticks_and_the_step_menu_update_the_message_for_everyone(h: Harness) -> None:
    channel, incident_id = await declare(h)
    run = await post(h, channel, incident_id, "database-down")
    runbook = h.bot.services.runbooks["database-down"]
    first, second, third = (s.id for s in runbook.steps()[:3])
    updates: list[dict[str, Any]] = []
    h.fake.subscribe(lambda e: updates.append(e) if e["type"] == "message_changed" else None)

    await choose(h, "U0BOB", run, first, "take")
    await eventually(lambda: "🙋 <@U0BOB> is on it" in step_note(h, run, first))
    assert not ticked(h, run, first) and menu(h, run, first) == ["take", "skip", "note"]
    assert "<@U0BOB> is on it" in str(updates[-1]["message"]["blocks"])  # via chat.update

    await tick(h, "U0CAROL", run, first)
    await eventually(lambda: "done by <@U0CAROL>" in step_note(h, run, first))
    assert ticked(h, run, first) and menu(h, run, first) == ["undo", "note"]
    assert "1 of 25 done" in progress_line(h, run)

    await tick(h, "U0ALICE", run, first)  # unticked: reopened
    await eventually(lambda: "0 of 25 done" in progress_line(h, run))
    assert not ticked(h, run, first) and step_note(h, run, first) == ""

    await choose(h, "U0BOB", run, second, "skip")
    await eventually(lambda: "skipped by <@U0BOB>" in step_note(h, run, second))
    assert ticked(h, run, second) and "~" in box(h, run, second)[0]["text"]["text"]  # type: ignore[index]
    assert "1 of 25 done* (1 skipped)" in progress_line(h, run)
    await choose(h, "U0BOB", run, second, "undo")
    await eventually(lambda: not ticked(h, run, second))

    # "I'm on it" by the one already on it changes nothing, and adds nothing to the timeline
    await choose(h, "U0DAVE", run, third, "take")
    await eventually(lambda: "<@U0DAVE> is on it" in step_note(h, run, third))
    await choose(h, "U0DAVE", run, third, "take")
    entries = [e for e in await h.store.timeline(incident_id) if e.kind == "runbook_step"]
    assert [(e.actor, e.text.split(":")[0]) for e in entries] == [
        ("U0BOB", "Step p1-s1 taken"),
        ("U0CAROL", "Step p1-s1 done"),
        ("U0ALICE", "Step p1-s1 reopened"),
        ("U0BOB", "Step p1-s2 skipped"),
        ("U0BOB", "Step p1-s2 reopened"),
        ("U0DAVE", "Step p1-s3 taken"),
    ]
    assert entries[1].text == (
        "Step p1-s1 done: Readiness endpoint returns 503 with the database check failing "
        "(database-down)"
    )
    await assert_slack_shows_the_store(h, run)


async def test_a_finished_phase_collapses_and_show_steps_tells_who_did_what(h: Harness) -> None:
    channel, incident_id = await declare(h)
    run = await post(h, channel, incident_id, "service-down")
    symptoms = [s.id for s in h.bot.services.runbooks["service-down"].phases[0].steps]
    before = len(shown(h, run))
    await tick(h, "U0BOB", run, symptoms[0])
    await eventually(lambda: ticked(h, run, symptoms[0]))
    await choose(h, "U0CAROL", run, symptoms[1], "skip")
    await eventually(
        lambda: "✅ *Symptoms* — 2/2 done (1 skipped)" in phase_line(h, run, "symptoms")
    )
    assert box(h, run, symptoms[0]) is None and len(shown(h, run)) == before - 1

    # Show steps: the phase in full, to the clicker alone, with who did what and when
    ack = await h.fake.click(
        "U0DAVE",
        channel,
        run.messages[0],
        make_action_id(ACTION_SHOW, "symptoms"),
        value=step_value(run.id, "symptoms"),
    )
    assert ack.status == 200
    steps = await eventually(lambda: [m for m in h.ephemerals("U0DAVE") if "Symptoms" in m.text])
    text = str(steps[0].blocks)
    assert "Done by <@U0BOB> · <!date^" in text and "Skipped by <@U0CAROL>" in text

    # its Undo reopens the step for everyone, and the answer shows the click
    ack = await h.fake.click(
        "U0DAVE",
        channel,
        steps[0].ts,
        make_action_id(ACTION_UNDO, symptoms[0]),
        value=step_value(run.id, symptoms[0]),
    )
    assert ack.status == 200
    await eventually(lambda: box(h, run, symptoms[0]) is not None)
    assert not ticked(h, run, symptoms[0]) and "*Symptoms* · 1/2" in phase_line(h, run, "symptoms")
    answer = await eventually(
        lambda: [m for m in h.ephemerals("U0DAVE") if m.ts == steps[0].ts and m.edited]
    )
    assert "Done by <@U0BOB>" not in str(answer[0].blocks)
    await assert_slack_shows_the_store(h, run)


async def test_a_forged_control_gets_a_sentence(h: Harness) -> None:
    channel, incident_id = await declare(h)
    run = await post(h, channel, incident_id, "service-down")
    show = make_action_id(ACTION_SHOW, "symptoms")
    await h.fake.click("U0ALICE", channel, run.messages[0], show, forged_value="no-separator")
    await eventually(lambda: [m for m in h.ephemerals() if "which checklist" in m.text])


async def test_a_note_on_a_step_lands_on_the_timeline(h: Harness) -> None:
    channel, incident_id = await declare(h)
    run = await post(h, channel, incident_id, "service-down")
    step = h.bot.services.runbooks["service-down"].steps()[3]
    before = set(h.fake.views)
    await choose(h, "U0ALICE", run, step.id, "note")
    view_id = await eventually(lambda: next(iter(set(h.fake.views) - before), None))
    assert "step 4" in str(h.fake.views[view_id]["blocks"])
    empty = await h.fake.submit_view("U0ALICE", view_id, {"note": {"note": "  "}})
    assert empty.errors == {"note": "Say what to note."}
    ack = await h.fake.submit_view(
        "U0ALICE", view_id, {"note": {"note": "Two pods <crashloop> @here"}}
    )
    assert ack.status == 200 and not ack.errors
    await eventually(lambda: [m for m in h.ephemerals() if "Noted" in m.text])
    notes = [e for e in await h.store.timeline(incident_id) if e.kind == "note"]
    assert [(e.actor, e.text) for e in notes] == [
        ("U0ALICE", f"Note on step 4 ({step.id}) of service-down: Two pods &lt;crashloop&gt; @here")
    ]


async def test_twenty_ticks_on_one_step_end_in_one_state(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel, incident_id = await declare(h)
    run = await post(h, channel, incident_id, "high-error-rate")
    steps = [s.id for s in h.bot.services.runbooks["high-error-rate"].steps()]
    finished = count_clicks(h, monkeypatch)

    # 20 people tick the same step at the same moment: one change
    await gather_clicks([tick(h, USERS[i % 4], run, steps[0]) for i in range(20)])
    await eventually(lambda: len(finished) == 20)
    await h.settled()  # the lease's holder shows the last of them (count_clicks)
    assert len(await step_entries(h, incident_id, steps[0])) == 1
    state = (await stored_states(h, run))[steps[0]]
    assert state.status == "done" and f"done by <@{state.by}>" in step_note(h, run, steps[0])
    await assert_slack_shows_the_store(h, run)

    # ... and 20 untick it: one change back
    await gather_clicks([tick(h, USERS[i % 4], run, steps[0]) for i in range(20)])
    await eventually(lambda: len(finished) == 40)
    assert len(await step_entries(h, incident_id, steps[0])) == 2
    assert (await stored_states(h, run))[steps[0]].status == "open"
    await assert_slack_shows_the_store(h, run)

    # 20 mixed clicks (takes by four people hand the step over): whatever order they
    # landed in, the step's timeline replays, change by change, to the stored state
    def mixed(i: int) -> Awaitable[Any]:
        if i % 5 == 0:
            return tick(h, USERS[i % 4], run, steps[1])
        return choose(h, USERS[i % 4], run, steps[1], "skip" if i % 5 == 1 else "take")

    await gather_clicks([mixed(i) for i in range(20)])
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


async def test_ticks_on_every_step_at_once_all_persist(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel, incident_id = await declare(h)
    run = await post(h, channel, incident_id, "database-down")
    steps = [s.id for s in h.bot.services.runbooks["database-down"].steps()]
    finished = count_clicks(h, monkeypatch)
    # everyone ticks a different box of the message as they all saw it (none ticked),
    # and takes another: no tick undoes another's, though each carries its whole group
    clicks = [tick(h, USERS[i % 4], run, step) for i, step in enumerate(steps)]
    clicks += [choose(h, USERS[(i + 1) % 4], run, step, "take") for i, step in enumerate(steps)]
    await gather_clicks(clicks)
    await eventually(lambda: len(finished) == 2 * len(steps))
    await h.settled()  # the lease's holder shows the last of them (count_clicks)

    states = await stored_states(h, run)
    assert all(states[s].status == "done" for s in steps)
    assert f"{len(steps)} of {len(steps)} done" in progress_line(h, run)
    for step in steps:
        # a take that landed first is its own change; the done is always there once
        entries = await step_entries(h, incident_id, step)
        assert [e.split(":")[0].split()[-1] for e in entries] in (["done"], ["taken", "done"])
    # every phase is finished: each is its one line
    assert [b["type"] for b in shown(h, run)].count("actions") == 0
    await assert_slack_shows_the_store(h, run)


async def test_clicks_while_another_sync_holds_the_lease_are_shown_by_the_holder(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel, incident_id = await declare(h)
    run = await post(h, channel, incident_id, "database-down")
    await h.settled()
    steps = [s.id for s in h.bot.services.runbooks["database-down"].steps()][:4]
    # a sync no click of the test made holds the lease, its edit stuck in Slack
    held = h.fake.hold("chat.update")
    holder = asyncio.create_task(
        h.bot.services.checklists.click(run.id, steps[0], "take", user="U0ALICE")
    )
    await held.arrived.wait()
    finished = count_clicks(h, monkeypatch)
    await gather_clicks([tick(h, USERS[i], run, step) for i, step in enumerate(steps)])
    await eventually(lambda: len(finished) == len(steps))
    # every click returned (the lease was taken) before Slack showed any of them
    assert "0 of 25 done" in progress_line(h, run)
    assert all(s.status == "done" for s in (await stored_states(h, run)).values())
    held.release()
    await holder
    # the holder re-checks the version after its pass: it shows them all, nobody else
    await h.settled()
    assert "4 of 25 done" in progress_line(h, run)
    await assert_slack_shows_the_store(h, run)


async def test_a_click_on_a_stale_message_heals_it(h: Harness) -> None:
    channel, incident_id = await declare(h)
    run = await post(h, channel, incident_id, "redis-down")
    step = h.bot.services.runbooks["redis-down"].steps()[0].id
    h.fake.fail("chat.update", error="internal_error", times=1)
    await choose(h, "U0BOB", run, step, "take")
    await eventually(lambda: len(h.fake.calls_to("chat.update")) == 1)
    assert "is on it" not in step_note(h, run, step)  # Slack refused the update
    await choose(h, "U0CAROL", run, step, "take")
    await eventually(lambda: "<@U0CAROL> is on it" in step_note(h, run, step))
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
        option = box(h, run, "p1-s1")
        assert option is not None and "Page the cache team" in option[0]["text"]["text"]
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


def test_check_runbooks_fails_on_a_role_the_config_does_not_define(tmp_path: Path) -> None:
    team = tmp_path / "team"
    team.mkdir()
    (team / "db-failover.yaml").write_text(
        TEAM_REDIS.replace("Our Redis runbook", "Fail the database over")
        + "escalate: {after: 10m, to: [db_lead]}\n"
    )
    unknown = run_bot("check-runbooks", str(team), env={})
    assert unknown.returncode == 1
    assert "db-failover.yaml:6: escalate.to[0]: unknown role 'db_lead'" in unknown.stdout
    config = tmp_path / "incident.yaml"
    config.write_text("roles: [commander, tech_lead, comms_lead, db_lead]\n")
    defined = run_bot("check-runbooks", str(team), env={"INCIDENT_CONFIG": str(config)})
    assert defined.returncode == 0, defined.stdout
    # start-up refuses it the same way (one preflight)
    with pytest.raises(SetupError, match=r"db-failover\.yaml:6: escalate\.to\[0\]: unknown role"):
        build(
            Settings(slack_bot_token="xoxb-x", slack_signing_secret="s"),
            IncidentConfig(runbooks_dir=team),
        )

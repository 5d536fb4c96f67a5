"""Checklist logic without Slack: step transitions, the store's step compare-and-set on
fakeredis, and the one-renderer-per-run protocol against a Slack stub we can pause."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import fakeredis
import pytest

from blocks.limits import check_blocks
from blocks.runbooks import runbook_fallback, runbook_list
from bot.core.models import Incident, RunbookRun, TimelineEntry
from bot.core.store import Lease, Store
from bot.runbooks.checklists import ChecklistError, Checklists, step_entry_text
from bot.runbooks.library import (
    STEP_ACTIONS,
    Runbook,
    StepAction,
    StepState,
    default_runbooks_dir,
    load_runbooks,
    next_step_state,
)

SHIPPED = load_runbooks(default_runbooks_dir())
OPEN = StepState()
TAKEN = StepState(status="taken", by="U0BOB", at=1)
DONE = StepState(status="done", by="U0BOB", at=1)
SKIPPED = StepState(status="skipped", by="U0BOB", at=1)


# -- transitions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "action", "after"),
    [
        (OPEN, "done", "done"),
        (OPEN, "skip", "skipped"),
        (OPEN, "take", "taken"),
        (OPEN, "undo", None),
        (TAKEN, "done", "done"),
        (TAKEN, "skip", "skipped"),
        (TAKEN, "undo", None),
        (DONE, "done", None),
        (DONE, "skip", None),
        (DONE, "take", None),
        (DONE, "undo", "open"),
        (SKIPPED, "done", None),
        (SKIPPED, "undo", "open"),
    ],
)
def test_what_a_click_does(before: StepState, action: StepAction, after: str | None) -> None:
    new = next_step_state(before, action, user="U0ALICE", at=5)
    assert (new.status if new else None) == after
    if new is not None and new.status != "open":
        assert (new.by, new.at) == ("U0ALICE", 5)
    if new is not None and new.status == "open":
        assert new == StepState()


def test_taking_hands_over_but_not_to_the_same_person() -> None:
    assert next_step_state(TAKEN, "take", user="U0BOB", at=5) is None
    handed = next_step_state(TAKEN, "take", user="U0CAROL", at=5)
    assert handed == StepState(status="taken", by="U0CAROL", at=5)


def test_timeline_text_names_step_what_happened_and_runbook() -> None:
    book = SHIPPED["redis-down"]
    step = book.steps()[0]
    assert (
        step_entry_text(book, step.id, step.text, "done")
        == f"Step p1-s1 done: {step.text} (redis-down)"
    )
    assert "reopened" in step_entry_text(book, "p1-s1", "x", "undo")
    long = step_entry_text(book, "p1-s1", "word " * 200, "skip")
    assert len(long) < 260 and long.startswith("Step p1-s1 skipped: word word")


def test_fallback_text_and_listing_note() -> None:
    book = SHIPPED["database-down"]
    states = {book.steps()[0].id: DONE}
    assert runbook_fallback(book, states, 0) == f"Runbook: {book.title} (1 of 25 done)"
    assert "part 2" in runbook_fallback(book, states, 1)
    many = [
        Runbook.model_validate(
            {
                "id": f"rb-{i}",
                "title": f"Runbook {i}",
                "phases": [{"id": "immediate", "steps": [{"text": "x"}]}],
            }
        )
        for i in range(80)
    ]
    blocks = runbook_list(many, incident_id="20240101-1", note="No runbook <nosuch>.")
    assert check_blocks(blocks) == []
    assert "No runbook &lt;nosuch&gt;." in str(blocks[1])


# -- the store ----------------------------------------------------------------------------


def make_store() -> Store:
    return Store(fakeredis.FakeAsyncRedis(decode_responses=True))


def new_run(
    incident: str = "20240101-1", runbook: str = "redis-down", run_id: str = "r1"
) -> RunbookRun:
    return RunbookRun(
        id=run_id, runbook=runbook, incident=incident, channel="C1", parts=2, posted_at=1.0
    )


INCIDENT = Incident(
    id="20240101-1", title="Redis down", severity="SEV2", declared_by="U0ALICE", declared_at=1.0
)


def entry(text: str) -> TimelineEntry:
    return TimelineEntry(at=1, actor="U0ALICE", kind="runbook", text=text)


async def test_one_checklist_per_runbook_per_incident() -> None:
    store = make_store()
    _, created = await store.create_run(new_run(run_id="r1"), entry("posted"), incident=INCIDENT)
    again, created_again = await store.create_run(
        new_run(run_id="r2"), entry("posted"), incident=INCIDENT
    )
    assert created and not created_again and again.id == "r1"
    _, created_other = await store.create_run(
        new_run(runbook="disk-space", run_id="r3"), entry("p"), incident=INCIDENT
    )
    assert created_other
    assert await store.incident_runs("20240101-1") == {"redis-down": "r1", "disk-space": "r3"}
    assert len(await store.timeline("20240101-1")) == 2
    run = await store.add_run_message("r1", 0, "1.0001")
    run = await store.add_run_message("r1", 0, "1.0002")  # a repeat of part 0 is ignored
    assert run.messages == ["1.0001"] and not run.complete
    run = await store.add_run_message("r1", 1, "1.0003")
    assert run.complete


async def test_concurrent_changes_to_one_step_make_one_change() -> None:
    store = make_store()
    run, _ = await store.create_run(new_run(), entry("posted"), incident=INCIDENT)

    def done(user: str) -> Any:
        def change(state: StepState) -> tuple[StepState, TimelineEntry] | None:
            new = next_step_state(state, "done", user=user, at=2)
            return (new, entry(f"Step p1-s1 done by {user}")) if new else None

        return change

    results = await asyncio.gather(
        *(store.change_step(run, "p1-s1", done(f"U{i}")) for i in range(50))
    )
    assert sum(changed for _, changed in results) == 1
    winner = next(state for state, changed in results if changed)
    assert all(state == winner for state, _ in results)  # the losers see the winner's state
    snap = await store.run_snapshot(run.id)
    assert snap is not None and snap.states == {"p1-s1": winner} and snap.version == 1
    steps = [e for e in await store.timeline(run.incident) if e.text.startswith("Step")]
    assert len(steps) == 1


async def test_concurrent_changes_to_different_steps_all_persist() -> None:
    store = make_store()
    run, _ = await store.create_run(new_run(), entry("posted"), incident=INCIDENT)

    def take(state: StepState) -> tuple[StepState, TimelineEntry] | None:
        new = next_step_state(state, "take", user="U0BOB", at=2)
        return (new, entry("taken")) if new else None

    await asyncio.gather(*(store.change_step(run, f"s{i}", take) for i in range(40)))
    snap = await store.run_snapshot(run.id)
    assert snap is not None and len(snap.states) == 40 and snap.version == 40


# -- one renderer per run -----------------------------------------------------------------


class PausableSlack:
    """Records posts and updates; updates can be held until the test lets them go."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, list[dict[str, Any]]]] = []
        self.updates: list[tuple[str, str]] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.shown: dict[str, str] = {}

    async def post(self, channel: str, text: str, blocks: list[dict[str, Any]]) -> tuple[str, str]:
        ts = f"1.{len(self.posted):06d}"
        self.posted.append((text, blocks))
        self.shown[ts] = str(blocks)
        return channel, ts

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        self.updates.append((ts, text))
        self.shown[ts] = str(blocks)

    async def permalink(self, channel: str, ts: str) -> str:
        return f"https://slack.example/{channel}/{ts}"


def incident() -> Incident:
    return Incident(
        id="20240101-1",
        title="Redis is down",
        severity="SEV2",
        declared_by="U0ALICE",
        declared_at=1.0,
        channel_id="C1",
    )


async def test_a_click_during_a_render_is_rendered_before_the_renderer_stops() -> None:
    slack = PausableSlack()
    service = Checklists(make_store(), slack, SHIPPED)  # type: ignore[arg-type]
    run = await service.post(incident(), "redis-down", by="U0ALICE")
    assert len(slack.posted) == run.parts == 1
    steps = [s.id for s in SHIPPED["redis-down"].steps()]

    slack.gate = asyncio.Event()
    first = asyncio.create_task(service.click(run.id, steps[0], "done", user="U0BOB"))
    await slack.entered.wait()  # the first click's renderer holds the lease, mid-update
    # the second click lands meanwhile; it finds the lease taken and returns at once
    state, changed = await service.click(run.id, steps[1], "done", user="U0CAROL")
    assert changed and state.status == "done"
    assert slack.updates == []
    slack.gate.set()
    await first
    # the renderer saw the version move and rendered again: Slack shows both steps done
    assert "2 of 22 done" in slack.updates[-1][1]
    assert "2 of 22 done" in slack.shown[run.messages[0]]


async def test_a_pass_reads_the_run_once_and_stores_what_it_showed_as_it_reads() -> None:
    slack = PausableSlack()
    service = Checklists(make_store(), slack, SHIPPED)  # type: ignore[arg-type]
    run = await service.post(incident(), "redis-down", by="U0ALICE")
    steps = [s.id for s in SHIPPED["redis-down"].steps()]
    reads = 0
    snapshot = service.store.run_snapshot

    async def counted(run_id: str, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        return await snapshot(run_id, **kwargs)

    service.store.run_snapshot = counted  # type: ignore[method-assign]
    slack.gate = asyncio.Event()
    first = asyncio.create_task(service.click(run.id, steps[0], "done", user="U0BOB"))
    await slack.entered.wait()
    await service.click(run.id, steps[1], "done", user="U0CAROL")  # lands mid-update
    slack.gate.set()
    await first
    # read, update, check (the version moved: its read is rendered), update, check, and
    # the check after letting go: four reads for two updates, and no other
    assert len(slack.updates) == 2 and reads == 4
    # what the last update showed is stored: the same state again is not sent again
    await service.sync(run.id)
    assert len(slack.updates) == 2
    snap = await snapshot(run.id)
    assert snap is not None and set(snap.shown) == {0}


async def test_a_click_just_before_the_lease_is_released_is_rendered() -> None:
    slack = PausableSlack()
    store = make_store()
    service = Checklists(store, slack, SHIPPED)  # type: ignore[arg-type]
    run = await service.post(incident(), "redis-down", by="U0ALICE")
    steps = [s.id for s in SHIPPED["redis-down"].steps()]
    held = store.held
    late: list[tuple[StepState, bool]] = []

    @contextlib.asynccontextmanager
    async def click_then_release(
        lease: Lease, of: str = "", *, ttl: float, wait: float = 0
    ) -> AsyncIterator[bool]:
        async with held(lease, of, ttl=ttl, wait=wait) as mine:
            yield mine
            if mine and not late:  # the holder has checked the version and is about to let go
                late.append(await service.click(run.id, steps[1], "skip", user="U0CAROL"))

    store.held = click_then_release  # type: ignore[method-assign]
    await service.click(run.id, steps[0], "done", user="U0BOB")
    assert late and late[0][1]  # the late click changed the step ...
    assert "2 of 22 done* (1 skipped)" in slack.shown[run.messages[0]]  # ... and it shows


async def test_posting_twice_points_at_the_first_and_an_unchanged_one_is_not_updated() -> None:
    slack = PausableSlack()
    service = Checklists(make_store(), slack, SHIPPED)  # type: ignore[arg-type]
    run = await service.post(incident(), "redis-down", by="U0ALICE")
    with pytest.raises(ChecklistError, match="already posted here"):
        await service.post(incident(), "redis-down", by="U0BOB")
    assert len(slack.posted) == 1
    first_step = SHIPPED["redis-down"].steps()[0].id
    await service.click(run.id, first_step, "take", user="U0BOB")
    assert [ts for ts, _ in slack.updates] == [run.messages[0]]
    await service.click(run.id, first_step, "take", user="U0BOB")  # no change: no update
    assert len(slack.updates) == 1
    with pytest.raises(ChecklistError, match="No runbook"):
        await service.post(incident(), "nosuch", by="U0BOB")


async def test_ticks_are_read_against_the_message_the_clicker_saw() -> None:
    slack = PausableSlack()
    service = Checklists(make_store(), slack, SHIPPED)  # type: ignore[arg-type]
    run = await service.post(incident(), "redis-down", by="U0ALICE")
    book = SHIPPED["redis-down"]
    a, b = (s.id for s in book.phases[2].steps[:2])
    seen = next(
        blk["block_id"]
        for blk in slack.posted[0][1]
        if any(o["value"] == a for el in blk.get("elements", []) for o in el.get("options", []))
    )
    # two people tick different boxes of the message as they both saw it: both land, and
    # Bob's selection (without a, done a moment before) does not reopen a
    assert await service.tick(run.id, seen, [a], user="U0ALICE") == 1
    assert await service.tick(run.id, seen, [b], user="U0BOB") == 1
    snap = await service.store.run_snapshot(run.id)
    assert snap is not None and {snap.states[a].status, snap.states[b].status} == {"done"}
    # a tick of a step someone finished already changes nothing
    assert await service.tick(run.id, seen, [a], user="U0CAROL") == 0
    assert "2 of 22 done" in slack.shown[run.messages[0]]
    with pytest.raises(ChecklistError, match="no longer matches"):
        await service.tick(run.id, "rb-tick-99-0", [a], user="U0BOB")


def test_every_action_is_known() -> None:
    assert set(STEP_ACTIONS) == {"done", "skip", "take", "undo"}


async def test_a_click_reads_its_run_once_and_on_a_run_redis_lost_writes_nothing() -> None:
    slack = PausableSlack()
    store = make_store()
    service = Checklists(store, slack, SHIPPED)  # type: ignore[arg-type]
    run = await service.post(incident(), "redis-down", by="U0ALICE")
    steps = [s.id for s in SHIPPED["redis-down"].steps()]
    reads = 0
    get_run = store.get_run

    async def counted(run_id: str) -> Any:
        nonlocal reads
        reads += 1
        return await get_run(run_id)

    store.get_run = counted  # type: ignore[method-assign]
    assert await service.incident_of(run.id) == run.incident
    await service.click(run.id, steps[0], "done", user="U0BOB")
    await service.click(run.id, steps[1], "take", user="U0BOB")
    assert reads == 1  # what a click uses of its run never changes once stored
    assert await service.incident_of("nope") is None

    entries = len(await store.timeline(run.incident))
    await store.redis.delete(store.keys.run(run.id))  # Redis lost it
    with pytest.raises(ChecklistError, match="no longer stored"):
        await service.click(run.id, steps[2], "done", user="U0BOB")
    snap_steps = await store.redis.hgetall(store.keys.run_steps(run.id))
    assert steps[2] not in snap_steps and len(await store.timeline(run.incident)) == entries
    with pytest.raises(ChecklistError, match="no longer stored"):  # read again: gone
        await service.click(run.id, steps[2], "done", user="U0BOB")

"""The mirror (bot/core/mirror.py) against the fake Slack over HTTP and a real Redis: an
unchanged part is not edited, a change made while a pass is posting is rendered before
the holder lets go, a message that is gone is posted again, and two syncs at once make
one edit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis

from blocks.common import Message
from blocks.mrkdwn import Mrkdwn
from bot.core.mirror import Frame, Mirror, Part, Shown
from bot.core.slack import Slack, make_client
from bot.core.store import Lease, Store
from bot.fakes.slack import FakeSlack


@dataclass
class Board:
    """A stored state (one text per part, and its version) shown as a set of messages, as
    the mirror's Surfaces; the refs live here too, as a feature's would on its record."""

    channel: str
    texts: list[str]
    repost: bool = False
    rev: int = 0
    refs: dict[str, Shown] = field(default_factory=dict)
    lease: tuple[Lease, str] = (Lease.RUNBOOK, "board-1")  # any lease of one object

    def change(self, i: int, text: str) -> None:
        self.texts[i] = text
        self.rev += 1

    async def read(self) -> Frame | None:
        texts = enumerate(self.texts)
        parts = [Part(str(i), self.channel, message(t), repost=self.repost) for i, t in texts]
        return Frame(self.rev, parts, dict(self.refs))

    async def version(self) -> object:
        return self.rev

    async def record(self, part: Part, shown: Shown) -> None:
        self.refs[part.key] = shown


def message(text: str) -> Message:
    section: dict[str, object] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    return Mrkdwn(text), [section]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack()
    await slack.start()
    slack.add_channel("ops", members=[slack.bot_user_id])
    yield slack
    await slack.stop()


@pytest.fixture
async def mirror(redis_url: str, fake: FakeSlack) -> AsyncIterator[Mirror]:
    redis = Redis.from_url(redis_url, decode_responses=True)
    yield Mirror(Store(redis), Slack(make_client(fake.bot_token, fake.api_url)))
    await redis.aclose()


def ops(fake: FakeSlack) -> str:
    return next(c.id for c in fake.channels.values() if c.name == "ops")


def shown_text(fake: FakeSlack, ts: str) -> str:
    m = fake.message(ops(fake), ts)
    assert m is not None
    return m.text


async def test_only_the_part_that_changed_is_edited(fake: FakeSlack, mirror: Mirror) -> None:
    board = Board(ops(fake), ["one", "two", "three"])
    await mirror.sync(board)
    assert [shown_text(fake, board.refs[k].ts) for k in "012"] == ["one", "two", "three"]
    assert fake.calls_to("chat.update") == []

    board.change(1, "two, changed")
    await mirror.sync(board)
    edits = fake.calls_to("chat.update")
    assert [c.args["ts"] for c in edits] == [board.refs["1"].ts]
    assert shown_text(fake, board.refs["1"].ts) == "two, changed"

    await mirror.sync(board)  # nothing changed: nothing sent
    assert len(fake.calls_to("chat.update")) == 1
    assert len(fake.calls_to("chat.postMessage")) == 3


async def test_a_change_while_posting_is_rendered_before_the_holder_lets_go(
    fake: FakeSlack, mirror: Mirror
) -> None:
    board = Board(ops(fake), ["v1"])
    await mirror.sync(board)
    board.change(0, "v2")
    hold = fake.hold("chat.update")
    syncing = asyncio.create_task(mirror.sync(board))
    await hold.arrived.wait()  # the edit to v2 is in flight ...
    board.change(0, "v3")  # ... when the state changes again
    hold.release()
    assert not (await syncing).busy
    edits = fake.calls_to("chat.update")
    assert [c.args["text"] for c in edits] == ["v2", "v3"]
    assert shown_text(fake, board.refs["0"].ts) == "v3"


async def test_a_message_that_is_gone_is_posted_again(fake: FakeSlack, mirror: Mirror) -> None:
    board = Board(ops(fake), ["firing"], repost=True)
    await mirror.sync(board)
    first = board.refs["0"].ts
    fake.messages[ops(fake)].clear()  # someone deleted it

    board.change(0, "resolved")
    await mirror.sync(board)
    assert [c.error for c in fake.calls_to("chat.update")] == ["message_not_found"]
    again = board.refs["0"].ts
    assert again != first and shown_text(fake, again) == "resolved"


async def test_a_gone_message_is_not_posted_again_unless_the_part_asks(
    fake: FakeSlack, mirror: Mirror
) -> None:
    board = Board(ops(fake), ["card"])
    await mirror.sync(board)
    fake.messages[ops(fake)].clear()
    board.change(0, "card, changed")
    await mirror.sync(board)
    assert len(fake.calls_to("chat.postMessage")) == 1
    assert board.refs["0"].digest != "" and fake.messages[ops(fake)] == []


async def test_two_syncs_at_once_make_one_edit(fake: FakeSlack, mirror: Mirror) -> None:
    board = Board(ops(fake), ["v1"])
    await mirror.sync(board)
    board.change(0, "v2")
    hold = fake.hold("chat.update")
    first = asyncio.create_task(mirror.sync(board))
    await hold.arrived.wait()
    second = await mirror.sync(board)  # finds the lease taken: leaves it
    assert second.busy
    hold.release()
    assert not (await first).busy
    assert [c.args["text"] for c in fake.calls_to("chat.update")] == ["v2"]


async def test_a_sync_while_this_process_holds_the_lease_leaves_it_without_asking_redis(
    fake: FakeSlack, mirror: Mirror
) -> None:
    board = Board(ops(fake), ["v1"])
    await mirror.sync(board)
    asked = []
    held = mirror.store.held

    def counted(*args: object, **kwargs: object) -> object:
        asked.append(args)
        return held(*args, **kwargs)  # type: ignore[arg-type]

    mirror.store.held = counted  # type: ignore[method-assign]
    board.change(0, "v2")
    hold = fake.hold("chat.update")
    first = asyncio.create_task(mirror.sync(board))
    await hold.arrived.wait()
    board.change(0, "v3")  # a click lands while the holder edits ...
    assert (await mirror.sync(board)).busy  # ... and its sync leaves it to the holder
    assert len(asked) == 1  # the holder's: the second was not asked of Redis
    hold.release()
    assert not (await first).busy
    assert [c.args["text"] for c in fake.calls_to("chat.update")] == ["v2", "v3"]
    await mirror.sync(board)  # let go: the next sync asks Redis again
    assert len(asked) == 2

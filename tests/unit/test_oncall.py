"""On-call: the pure now/next split and name picking, the blocks, and the refresh rules
(one walk however many ask at once, on one replica or two) against the fakes over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from blocks.limits import check_blocks
from blocks.oncall import ACTION_INVITE, oncall_message
from bot.core.config import PagerDutyConfig
from bot.core.models import (
    OnCallAnswer,
    OnCallPerson,
    OnCallSection,
    OnCallSlot,
    OnCallSnapshot,
    OnCallSpan,
)
from bot.core.pagerduty import PagerDuty
from bot.core.slack import Slack, make_client
from bot.core.store import Store
from bot.fakes.pagerduty import FakePagerDuty
from bot.fakes.slack import FakeSlack
from bot.oncall import OnCall, OnCallError, build_sections, pick

H = 3600
T0 = 1_700_000_000
CONFIG = PagerDutyConfig(escalation_policy_id="P1", schedules={"backend": "S1", "db": "S2"})


def span(level: int, user: str, start: int | None, end: int | None, schedule: str | None = "S1"):
    return OnCallSpan(
        policy_id="P1",
        policy_name="Backend escalation",
        level=level,
        schedule_id=schedule,
        schedule_name={"S1": "Backend Primary", "S2": "Database"}.get(schedule or ""),
        user_id=user,
        user_name=user.title(),
        start=start,
        end=end,
    )


SNAPSHOT = OnCallSnapshot(
    fetched_at=T0,
    spans=[
        span(1, "bob", T0 - H, T0 + 2 * H),
        span(1, "carol", T0 + 2 * H, T0 + 26 * H),
        span(1, "alice", T0 + 26 * H, T0 + 50 * H),
        # the same schedule at level 2 of the policy: the same spans once more
        span(2, "bob", T0 - H, T0 + 2 * H),
        span(2, "carol", T0 + 2 * H, T0 + 26 * H),
        span(3, "dave", None, None, schedule=None),
        span(3, "erin", None, None, schedule=None),
    ],
    slack_ids={"bob": "U0BOB", "carol": "U0CAROL", "dave": "U0DAVE"},
)


def test_now_and_next_are_worked_out_when_asked() -> None:
    policy, backend, db = build_sections(SNAPSHOT, CONFIG, T0)
    level1 = policy.slots[0]
    assert (level1.level, level1.schedule_name) == (1, "Backend Primary")
    assert [p.slack_id for p in level1.now] == ["U0BOB"]
    assert (level1.until, level1.next, level1.next_from) == (
        T0 + 2 * H,
        OnCallPerson(name="Carol", slack_id="U0CAROL"),
        T0 + 2 * H,
    )
    direct = policy.slots[2]
    assert direct.level == 3 and direct.schedule_name is None
    assert [(p.name, p.slack_id) for p in direct.now] == [("Dave", "U0DAVE"), ("Erin", None)]
    # a schedule used at two levels is one timeline in its own section
    assert backend.detail == "Backend Primary" and len(backend.slots) == 1
    assert backend.slots[0].now[0].name == "Bob"
    # a schedule PagerDuty reported nothing for: nobody, said plainly
    assert db.slots[0].now == [] and db.slots[0].next is None

    # Three hours later, from the same snapshot: the handover has happened.
    _, backend, _ = build_sections(SNAPSHOT, CONFIG, T0 + 3 * H)
    slot = backend.slots[0]
    assert [p.name for p in slot.now] == ["Carol"]
    assert (slot.until, slot.next and slot.next.name, slot.next_from) == (
        T0 + 26 * H,
        "Alice",
        T0 + 26 * H,
    )


def test_a_turn_in_pieces_is_one_turn() -> None:
    pieces = OnCallSnapshot(
        fetched_at=T0,
        spans=[
            span(1, "bob", T0 - H, T0 + H),
            span(1, "bob", T0 + H, T0 + 5 * H),
            span(1, "carol", T0 + 5 * H, T0 + 9 * H),
        ],
    )
    _, backend, _ = build_sections(pieces, CONFIG, T0)
    slot = backend.slots[0]
    assert (slot.until, slot.next and slot.next.name) == (T0 + 5 * H, "Carol")


def test_pick_by_name_prefix_or_pagerduty_name() -> None:
    sections = build_sections(SNAPSHOT, CONFIG, T0)
    assert pick(sections, "BACKEND").name == "backend"  # exact beats a prefix of another
    assert pick(sections, "backend primary").name == "backend"  # PagerDuty's own name
    assert pick(sections, "backend e").name == "Backend escalation"
    assert pick(sections, "d").name == "db"
    with pytest.raises(OnCallError, match="“ba” matches Backend escalation and backend;"):
        pick(sections, "ba")
    with pytest.raises(OnCallError, match=r"Known: Backend escalation, backend, db\."):
        pick(sections, "payments")


def answer(*, sections: int = 1, unreachable: bool = False) -> OnCallAnswer:
    slot = OnCallSlot(
        level=1,
        schedule_name="Primary <ops>",
        now=[OnCallPerson(name="Bob", slack_id="U0BOB"), OnCallPerson(name="<Erin & co>")],
        until=T0 + H,
        next=OnCallPerson(name="Carol", slack_id="U0CAROL"),
        next_from=T0 + H,
    )
    return OnCallAnswer(
        sections=[
            OnCallSection(name=f"team{i}", kind="policy", slots=[slot]) for i in range(sections)
        ],
        as_of=T0,
        unreachable=unreachable,
    )


def test_blocks_are_valid_and_invite_buttons_unique() -> None:
    text, blocks = oncall_message(answer(sections=3), incident_id="20240306-1")
    assert check_blocks(blocks) == []
    buttons = [b["accessory"] for b in blocks if "accessory" in b]
    assert len(buttons) == 6  # Bob and Carol in each of 3 sections; Erin has no Slack account
    assert all(b["action_id"].startswith(ACTION_INVITE) for b in buttons)
    assert "&lt;Erin &amp; co&gt;" in str(blocks) and "Primary &lt;ops&gt;" in str(blocks)
    assert "unreachable" not in text
    text, blocks = oncall_message(answer(sections=3))
    assert not any("accessory" in b for b in blocks)


def test_many_sections_stay_within_slacks_limits_and_say_so() -> None:
    _, blocks = oncall_message(answer(sections=30), incident_id="20240306-1")
    assert len(blocks) <= 50 and check_blocks(blocks) == []
    assert "ask for one with `/oncall &lt;name&gt;`" in str(blocks[-2])


def test_stale_answer_is_marked() -> None:
    text, blocks = oncall_message(answer(unreachable=True))
    assert "PagerDuty unreachable" in text and "<!date^1700000000^" in text
    assert blocks[1]["type"] == "context" and "last known answer" in str(blocks[1])


# -- the refresh rules, against the fakes ----------------------------------------------------

NOW = datetime(2024, 3, 6, 12, 0, tzinfo=UTC)


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakePagerDuty, FakeSlack]]:
    pd, slack = FakePagerDuty(now=lambda: NOW), FakeSlack()
    await pd.start()
    await slack.start()
    yield pd, slack
    await pd.stop()
    await slack.stop()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


def replica(redis: Redis, pd: FakePagerDuty, slack: FakeSlack) -> OnCall:
    """One bot process's OnCall: its own PagerDuty client and in-process state."""
    client = PagerDuty(pd.api_key, api_url=pd.api_url, events_url=pd.events_url, from_email=None)
    config = PagerDutyConfig(escalation_policy_id="PEP_MAIN", schedules={"backend": "PS_BACKEND"})
    return OnCall(
        Store(redis),
        Slack(make_client(slack.bot_token, slack.api_url)),
        client,
        config,
        clock=NOW.timestamp,
    )


async def test_a_crowd_on_a_cold_cache_makes_one_walk(
    redis: Redis, fakes: tuple[FakePagerDuty, FakeSlack]
) -> None:
    pd, slack = fakes
    pd.latency = 0.1  # long enough for everyone to arrive while the walk is under way
    one, two = replica(redis, pd, slack), replica(redis, pd, slack)
    answers = await asyncio.gather(*(r.answer() for r in [one, two] * 10))
    assert {a.sections[0].slots[0].now[0].slack_id for a in answers} == {"U0BOB"}
    assert not any(a.unreachable for a in answers)
    assert len(pd.calls_to("GET", "/oncalls")) == 1
    # each Slack match asked once, whichever replica asked
    emails = [c.args["email"] for c in slack.calls_to("users.lookupByEmail")]
    assert sorted(emails) == sorted(set(emails))


async def test_nothing_to_answer_without_pagerduty(redis: Redis) -> None:
    slack = Slack(make_client("xoxb-none", "http://127.0.0.1:9/"))
    service = OnCall(Store(redis), slack, None, CONFIG)
    with pytest.raises(OnCallError, match="PAGERDUTY_API_KEY"):
        await service.answer()
    assert service.problem() is not None


async def test_the_periodic_job_refreshes_only_a_half_stale_cache(
    redis: Redis, fakes: tuple[FakePagerDuty, FakeSlack]
) -> None:
    pd, slack = fakes
    service = replica(redis, pd, slack)
    clock = [NOW.timestamp()]
    service.clock = lambda: clock[0]
    await service.refresh_if_stale()  # nothing cached: refresh
    assert len(pd.calls_to("GET", "/oncalls")) == 1
    clock[0] += service.ttl / 2 - 1
    await service.refresh_if_stale()
    assert len(pd.calls_to("GET", "/oncalls")) == 1
    clock[0] += 2
    pd.fail("/oncalls", status=500, times=2)
    await service.refresh_if_stale()  # fails quietly, and is remembered
    assert await service.store.oncall_failure() == "HTTP 500"
    await service.refresh_if_stale()
    assert len(pd.calls_to("GET", "/oncalls")) == 3  # two tries of the failed walk, no more
    snapshot = await service.store.oncall_snapshot()
    assert snapshot is not None and snapshot.fetched_at == NOW.timestamp()  # kept

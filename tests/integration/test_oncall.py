"""`/oncall` through the real app: fake Slack and fake PagerDuty over HTTP, real Redis.

The fake PagerDuty's seed: Backend Primary (Alice/Bob weekly, Mondays 09:00 UTC), Platform
(Erin/Carol), and the policy "Backend escalation": level 1 Backend Primary, level 2 Platform,
level 3 Dave directly. Carol overrides the first day of the next Backend Primary shift. Erin
has no Slack account. Both the fake and the bot read one test clock, so who is on call is
fixed and the cache's age moves only when a test says so.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from blocks.common import date_token
from bot.core.config import IncidentConfig, PagerDutyConfig
from bot.fakes.pagerduty import FakePagerDuty
from bot.fakes.slack import Message
from bot.oncall import OnCall
from tests.integration.harness import Harness, eventually, start

NOW = datetime(2024, 3, 6, 12, 0, tzinfo=UTC)  # a Wednesday: Bob and Carol are on call
HANDOVER = datetime(2024, 3, 11, 9, 0, tzinfo=UTC)
CONFIG = IncidentConfig(
    pagerduty=PagerDutyConfig(
        service_id="PSVC_MAIN",
        escalation_policy_id="PEP_MAIN",
        schedules={"backend": "PS_BACKEND", "platform": "PS_PLATFORM"},
    )
)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.t = at.timestamp()

    def __call__(self) -> float:
        return self.t

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)


@pytest.fixture
async def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
async def h(redis_url: str, clock: Clock) -> AsyncIterator[Harness]:
    pd = FakePagerDuty(now=clock.now, webhooks_for_api_changes=False)
    harness = await start(redis_url, CONFIG, pagerduty=pd)
    oncall(harness).clock = clock
    yield harness
    await harness.stop()


def oncall(h: Harness) -> OnCall:
    service = h.bot.services.oncall
    assert service is not None
    return service


def pd(h: Harness) -> FakePagerDuty:
    assert h.pd is not None
    return h.pd


async def ask(
    h: Harness, text: str = "", *, user: str = "U0ALICE", channel: str | None = None
) -> Message:
    """Send `/oncall text`; the answer the bot sent through the response_url."""
    channel = channel or h.channel("general")
    before = len(h.fake.calls_to("response_url"))
    ack = await h.fake.slash_command(user, channel, "/oncall", text)
    assert ack.status == 200 and ack.body is None  # acked at once, answered later

    def answer() -> Message | None:
        # other replies may use response_urls meanwhile (an incident's declaration)
        sent = {c.args.get("text") for c in h.fake.calls_to("response_url")[before:]}
        return next((m for m in h.fake.messages[channel][::-1] if m.text in sent), None)

    return await eventually(answer)


def lines(m: Message) -> list[str]:
    return [b["text"]["text"] for b in m.blocks if b["type"] == "section" and "text" in b]


def buttons(m: Message) -> list[dict]:
    return [b["accessory"] for b in m.blocks if "accessory" in b]


def pd_calls(h: Harness) -> int:
    return len(pd(h).calls)


async def test_who_is_on_call_at_every_level_and_schedule(h: Harness) -> None:
    m = await ask(h)
    until = handover = date_token(HANDOVER.timestamp())  # Monday 09:00 UTC, both
    assert m.ephemeral_to == "U0ALICE"
    assert lines(m) == [
        "*Backend escalation* · escalation policy",
        f"*Level 1* · Backend Primary: <@U0BOB> until {until}",
        f"      ↳ next: <@U0CAROL> from {handover}",  # Carol's override, not Alice's turn
        f"*Level 2* · Platform: <@U0CAROL> until {until}",
        f"      ↳ next: Erin Example from {handover}",  # no Slack account: the plain name
        "*Level 3* · targeted directly: <@U0DAVE> (always on call)",
        "*backend* · schedule Backend Primary",
        f"Now: <@U0BOB> until {until}",
        f"Next: <@U0CAROL> from {handover}",
        "*platform* · schedule",  # PagerDuty's name says nothing more
        f"Now: <@U0CAROL> until {until}",
        f"Next: Erin Example from {handover}",
    ]
    assert buttons(m) == []  # not an incident channel: nobody to invite anywhere
    # the answer's mentions are live (they ring the people on call) and nothing else is
    assert m.notice.users == {"U0BOB", "U0CAROL", "U0DAVE"} and not m.notice.broadcasts
    walks = pd(h).calls_to("GET", "/oncalls")
    assert len(walks) == 1  # schedules and policy in one walk
    assert walks[0].query["since"] == ["2024-03-06T12:00:00Z"]


async def test_second_answer_comes_from_the_cache(h: Harness) -> None:
    await ask(h)
    calls, lookups = pd_calls(h), len(h.fake.calls_to("users.lookupByEmail"))
    assert lookups == 5  # Alice, Bob, Carol, Dave, Erin: once each
    m = await ask(h, "platform")
    assert pd_calls(h) == calls
    assert lines(m)[1].startswith("Now: <@U0CAROL>")


async def test_refresh_after_the_ttl_and_slack_matches_stay_cached(
    h: Harness, clock: Clock
) -> None:
    await ask(h)
    lookups = len(h.fake.calls_to("users.lookupByEmail"))
    override_end = NOW + timedelta(hours=3)
    pd(h).set_override("PS_BACKEND", "PU_ALICE", NOW - timedelta(hours=1), override_end)
    assert "<@U0BOB>" in lines(await ask(h, "backend"))[1]  # within the ttl: cached
    clock.t += oncall(h).ttl + 1
    m = await ask(h, "backend")
    assert lines(m)[1] == f"Now: <@U0ALICE> until {date_token(override_end.timestamp())}"
    assert len(pd(h).calls_to("GET", "/oncalls")) == 2
    assert len(h.fake.calls_to("users.lookupByEmail")) == lookups


async def test_pagerduty_500_gives_the_last_answer_flagged(h: Harness, clock: Clock) -> None:
    fetched = clock.t
    await ask(h)
    clock.t += oncall(h).ttl + 1
    pd(h).fail("/oncalls", status=500, times=2)  # the walk and its one retry
    m = await ask(h)
    assert f"as of {date_token(fetched)}, PagerDuty unreachable" in m.text
    assert m.blocks[1]["type"] == "context" and "PagerDuty unreachable" in str(m.blocks[1])
    assert "<@U0BOB>" in lines(m)[1]
    # The failure is remembered a while: the next asker is not kept waiting on PagerDuty.
    calls = pd_calls(h)
    assert "PagerDuty unreachable" in (await ask(h)).text
    assert pd_calls(h) == calls
    # PagerDuty is back once the backoff is over.
    await h.store.redis.delete(h.store.keys.oncall_failure)
    m = await ask(h)
    assert "unreachable" not in m.text and pd_calls(h) > calls


async def test_pagerduty_slow_gives_the_last_answer_then_catches_up(
    h: Harness, clock: Clock
) -> None:
    await ask(h)
    clock.t += oncall(h).ttl + 1
    oncall(h).budget = 0.2
    pd(h).latency = 0.6
    m = await ask(h)
    assert "PagerDuty unreachable" in m.text
    # the refresh the asker stopped waiting for still lands in the cache
    await eventually(lambda: _fetched_at(h, clock.t))
    pd(h).latency = 0
    calls = pd_calls(h)
    assert "unreachable" not in (await ask(h)).text
    assert pd_calls(h) == calls


async def _fetched_at(h: Harness, t: float) -> bool:
    snapshot = await h.store.oncall_snapshot()
    return snapshot is not None and snapshot.fetched_at == t


async def test_nothing_cached_and_pagerduty_down(h: Harness) -> None:
    pd(h).fail("/", status=503, times=50)
    m = await ask(h)
    assert m.ephemeral_to == "U0ALICE"
    assert "PagerDuty is unreachable (HTTP 503) and I have no earlier answer" in m.text
    assert "Usage" in str(m.blocks)


async def test_names_unknown_ambiguous_and_prefixes(h: Harness) -> None:
    m = await ask(h, "payments")
    assert m.text == (
        "No schedule or team called “payments”. Known: Backend escalation, backend, platform."
    )
    m = await ask(h, "ba")
    assert m.text == "“ba” matches Backend escalation and backend; type more of the name."
    assert lines(await ask(h, "BACKEND"))[0] == "*backend* · schedule Backend Primary"
    assert lines(await ask(h, "backend primary"))[0] == "*backend* · schedule Backend Primary"
    assert lines(await ask(h, "backend e"))[0] == "*Backend escalation* · escalation policy"
    assert lines(await ask(h, "plat"))[0] == "*platform* · schedule"


async def test_share_posts_in_the_channel(h: Harness) -> None:
    m = await ask(h, "platform share", user="U0BOB")
    assert m.ephemeral_to is None and m.user == h.fake.bot_user_id
    assert m.blocks[0]["text"]["text"] == "On call: platform"
    m = await ask(h, "share")
    assert m.ephemeral_to is None and m.blocks[0]["text"]["text"] == "On call now"


async def test_invite_button_in_an_incident_channel(h: Harness) -> None:
    await h.command("declare SEV2 Payments are slow")
    channel = await eventually(
        lambda: next((c.id for c in h.fake.channels.values() if c.name.startswith("inc-")), None)
    )
    incident = await eventually(lambda: h.store.by_channel(channel))
    assert "U0BOB" not in h.fake.channels[channel].members
    m = await ask(h, channel=channel)
    invites = buttons(m)
    # everyone with a Slack account, now and next; Erin has none, so no button
    assert [json.loads(b["value"])["user"] for b in invites] == [
        "U0BOB",
        "U0CAROL",
        "U0CAROL",
        "U0DAVE",
        "U0BOB",
        "U0CAROL",
        "U0CAROL",
    ]
    assert {b["text"]["text"] for b in invites} == {"Invite to this incident"}
    ack = await h.fake.click("U0ALICE", channel, m.ts, invites[0]["action_id"])
    assert ack.status == 200
    await eventually(lambda: "U0BOB" in h.fake.channels[channel].members)
    invited = len(h.fake.calls_to("conversations.invite"))
    timeline = await eventually(
        lambda: _entries(h, incident.id, "invite"),
    )
    assert timeline[0].actor == "U0ALICE"
    assert timeline[0].text == "Invited <@U0BOB>, on call for Backend escalation, level 1"
    await eventually(
        lambda: any("invited <@U0BOB>" in x.text for x in h.fake.messages[channel] if x.text)
    )
    # A double click invites once.
    answered = len(h.fake.calls_to("response_url"))
    await h.fake.click("U0ALICE", channel, m.ts, invites[0]["action_id"])
    await eventually(lambda: len(h.fake.calls_to("response_url")) > answered)
    await h.settled()
    assert len(h.fake.calls_to("conversations.invite")) == invited
    assert len(await _entries(h, incident.id, "invite")) == 1


async def _entries(h: Harness, incident_id: str, kind: str) -> list:
    return [e for e in await h.store.timeline(incident_id) if e.kind == kind]


async def test_not_configured_says_which_settings(redis_url: str) -> None:
    h = await start(redis_url)  # no PAGERDUTY_API_KEY
    try:
        ack = await h.fake.slash_command("U0ALICE", h.channel("general"), "/oncall", "")
        assert "PAGERDUTY_API_KEY" in ack.body["text"]
        assert "pagerduty.schedules" in ack.body["text"]
        assert ack.body["response_type"] == "ephemeral"
    finally:
        await h.stop()
    h = await start(redis_url, pagerduty=True)  # a key, but no schedules configured
    try:
        ack = await h.fake.slash_command("U0ALICE", h.channel("general"), "/oncall", "")
        assert "No on-call schedules are configured" in ack.body["text"]
        await h.settled()
        assert pd(h).calls == []
    finally:
        await h.stop()


async def test_a_wrong_schedule_id_is_named_as_such(redis_url: str, clock: Clock) -> None:
    config = IncidentConfig(pagerduty=PagerDutyConfig(schedules={"ops": "PS_TYPO"}))
    h = await start(redis_url, config, pagerduty=FakePagerDuty(now=clock.now))
    try:
        m = await ask(h, "ops")
        assert "(HTTP 404: check the IDs under pagerduty in INCIDENT_CONFIG)" in m.text
    finally:
        await h.stop()


async def test_help_is_the_usage(h: Harness) -> None:
    ack = await h.fake.slash_command("U0ALICE", h.channel("general"), "/oncall", "help")
    assert "/oncall [schedule or team] [share]" in str(ack.body["blocks"])
    await h.settled()
    assert ack.body["response_type"] == "ephemeral" and pd_calls(h) == 0

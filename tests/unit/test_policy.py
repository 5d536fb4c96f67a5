"""The permissions policy (bot/core/policy.py) as a matrix: each action's default principals for
each kind of person, configured principals, the channel binding, vacant command, the
declare rate, refusals on the timeline, and what a refusal says. fakeredis for the store;
Slack's answers (channel members, user groups) are stand-ins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import fakeredis
import pytest

import blocks.policy as ui
from blocks.limits import check_blocks
from blocks.mrkdwn import Mrkdwn
from bot.core.config import ConfigError, IncidentConfig, load_config
from bot.core.models import Incident, TimelineEntry
from bot.core.policy import Policy, Where, role_action, severity_action, status_action
from bot.core.slack import Slack, SlackError
from bot.core.store import Store
from bot.fakes.slack import notice
from bot.privacy import Privacy

CMD, TL, MEM, OUT, GRP = "U0CMD", "U0TL", "U0MEM", "U0OUT", "U0GRP"
CHANNEL, OTHER, ANNOUNCE = "C0INC", "C0OTHER", "C0ANN"
GROUP = "S0MANAGERS"


class Members:
    """Stands in for bot/privacy.py's membership cache: `stale` is what the cache holds,
    `fresh` what Slack says when asked again."""

    def __init__(self, members: set[str], *, stale: set[str] | None = None) -> None:
        self.fresh = members
        self.stale = members if stale is None else stale
        self.asked_fresh = 0

    async def members(self, channel: str, *, max_age: float | None = None) -> frozenset[str]:
        if max_age is None:
            return frozenset(self.stale)
        self.asked_fresh += 1
        return frozenset(self.fresh)


class Groups:
    def __init__(self, groups: dict[str, list[str]], *, failing: bool = False) -> None:
        self.groups = groups
        self.failing = failing
        self.calls = 0

    async def usergroup_members(self, group: str) -> list[str]:
        self.calls += 1
        if self.failing:
            raise SlackError("usergroups.users.list", "missing_scope")
        return self.groups.get(group, [])


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    redis = fakeredis.FakeAsyncRedis(decode_responses=True)
    yield Store(redis)
    await redis.aclose()


def incident(**extra: Any) -> Incident:
    fields: dict[str, Any] = {
        "id": "20260301-1",
        "title": "Checkout down",
        "severity": "SEV1",
        "declared_by": CMD,
        "declared_at": 0,
        "roles": {"commander": CMD, "tech_lead": TL},
        "channel_id": CHANNEL,
        "announce_channel": ANNOUNCE,
    }
    return Incident.model_validate({**fields, **extra})


async def make(
    store: Store,
    permissions: dict[str, Any] | None = None,
    *,
    members: Members | None = None,
    groups: Groups | None = None,
    clock: Clock | None = None,
) -> Policy:
    config = IncidentConfig.model_validate({"permissions": permissions or {}})
    return Policy(
        store,
        cast(Slack, groups or Groups({GROUP: [GRP]})),
        config,
        cast(Privacy, members or Members({CMD, TL, MEM})),
        clock=clock or Clock(),
    )


# -- the defaults ----------------------------------------------------------------------------

ROLES = {CMD: True, TL: True, MEM: False, OUT: False}
MEMBERS = {CMD: True, TL: True, MEM: True, OUT: False}
ANYONE = {CMD: True, TL: True, MEM: True, OUT: True}
DEFAULTS = {
    "resolve": ROLES,
    "lower_severity": ROLES,
    "raise_severity": MEMBERS,
    "status": MEMBERS,
    "hand_over": ROLES,
    "assign_role": ROLES,
    "snooze": ROLES,
    "escalate": MEMBERS,
    "runbook": ANYONE,
    "stakeholder_update": ROLES,
    "close_private_followups": MEMBERS,
    "doctor": ANYONE,
    "update": ANYONE,
    "invite": ANYONE,
}


@pytest.mark.parametrize(
    ("action", "user", "allowed"),
    [(a, u, ok) for a, row in DEFAULTS.items() for u, ok in row.items()],
)
async def test_default_matrix(store: Store, action: str, user: str, allowed: bool) -> None:
    policy = await make(store)
    # clicked in the incident's own channel: bound, so only the principals decide
    decision = await policy.check(action, incident(), user, where=Where(CHANNEL))
    assert decision.allowed is allowed
    if not allowed:
        assert decision.why == "permission"


async def test_take_command_while_nobody_commands_is_open_to_whoever_reaches_it(
    store: Store,
) -> None:
    policy = await make(store)
    vacant = incident(roles={})
    assert role_action(vacant, "commander") == "take_command"
    assert (await policy.check("take_command", vacant, OUT, where=Where(CHANNEL))).allowed
    assert not (await policy.check("take_command", vacant, OUT, where=Where(OTHER))).allowed
    assert role_action(incident(), "commander") == "hand_over"
    assert role_action(incident(), "tech_lead") == "assign_role"


async def test_with_nobody_in_a_role_a_refusal_offers_to_take_command(store: Store) -> None:
    policy = await make(store)
    decision = await policy.check("resolve", incident(roles={}), MEM, where=Where(CHANNEL))
    assert not decision.allowed and decision.offer_command and decision.ask == ()
    text, blocks = ui.refusal(decision)
    assert "nobody holds a role yet" in text and "take command first" in text
    assert [e["action_id"] for e in blocks[-1]["elements"]] == [ui.ACTION_TAKE_COMMAND]
    check_blocks(blocks)


# -- configured principals -------------------------------------------------------------------


async def test_a_user_group_admits_its_members_only(store: Store) -> None:
    groups = Groups({GROUP: [GRP]})
    policy = await make(store, {"resolve": [GROUP]}, groups=groups)
    assert (await policy.check("resolve", incident(), GRP, where=Where(CHANNEL))).allowed
    refused = await policy.check("resolve", incident(), CMD, where=Where(CHANNEL))
    assert not refused.allowed  # roles are not listed: the commander is not enough here
    assert refused.ask == (f"<!subteam^{GROUP}>",)
    await policy.check("resolve", incident(), MEM, where=Where(CHANNEL))
    assert groups.calls == 1  # cached


async def test_an_unknown_group_admits_nobody_and_is_asked_again(store: Store) -> None:
    groups = Groups({GROUP: [GRP]}, failing=True)
    policy = await make(store, {"resolve": [GROUP]}, groups=groups)
    assert not (await policy.check("resolve", incident(), GRP, where=Where(CHANNEL))).allowed
    groups.failing = False
    assert (await policy.check("resolve", incident(), GRP, where=Where(CHANNEL))).allowed


async def test_a_named_user_and_anyone(store: Store) -> None:
    policy = await make(store, {"resolve": ["roles", OUT], "snooze": ["anyone"]})
    assert (await policy.check("resolve", incident(), OUT, where=Where(CHANNEL))).allowed
    assert not (await policy.check("resolve", incident(), MEM, where=Where(CHANNEL))).allowed
    assert (await policy.check("snooze", incident(), OUT, where=Where(CHANNEL))).allowed


# -- membership ------------------------------------------------------------------------------


async def test_a_stale_no_is_asked_again_and_a_typed_command_proves_membership(
    store: Store,
) -> None:
    members = Members({CMD, MEM}, stale={CMD})
    policy = await make(store, members=members)
    assert (await policy.check("escalate", incident(), MEM, where=Where(CHANNEL))).allowed
    assert members.asked_fresh == 1
    members.fresh = {CMD}
    typed = Where(CHANNEL, typed=True)
    assert (await policy.check("escalate", incident(), OUT, where=typed)).allowed
    assert members.asked_fresh == 1  # no Slack call: Slack lets only members type there


async def test_without_a_channel_yet_the_declarer_and_role_holders_are_inside(
    store: Store,
) -> None:
    policy = await make(store)
    early = incident(channel_id=None)
    assert (await policy.check("escalate", early, TL, where=Where(OTHER))).allowed
    assert not (await policy.check("escalate", early, MEM, where=Where(OTHER))).allowed


# -- bound to the channel --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "private", "user", "bound"),
    [
        (Where(CHANNEL), True, OUT, True),  # the incident's own channel
        (Where("D0DAVE", shown="dm"), True, OUT, True),  # a DM the bot sends it in
        (Where("D0DAVE"), True, OUT, False),  # a button the bot never puts in a DM
        (Where("D0DAVE"), False, OUT, False),
        (Where(OTHER), True, MEM, True),  # elsewhere, but a member of the incident
        (Where(OTHER), True, OUT, False),
        (Where(OTHER), False, OUT, False),
        (Where(None), False, OUT, False),  # a modal that cannot say where it came from
        (Where(ANNOUNCE), False, OUT, False),  # the announce channel offers nothing here
        (Where(ANNOUNCE, shown="announcement"), False, OUT, True),
        (Where(OTHER, shown="anywhere"), False, OUT, True),  # the follow-ups list
        (Where(OTHER, shown="anywhere"), True, OUT, False),  # ...but not a private one's
        (Where(OTHER, shown="anywhere"), True, MEM, True),
    ],
)
async def test_binding(store: Store, where: Where, private: bool, user: str, bound: bool) -> None:
    policy = await make(store)
    decision = await policy.check("update", incident(private=private), user, where=where)
    assert decision.allowed is bound
    if not bound:
        assert decision.why == "channel" and decision.hidden is private


async def test_an_unbound_refusal_to_a_private_incident_says_nothing_of_it(store: Store) -> None:
    policy = await make(store)
    secret = incident(private=True, title="Credentials leaked")
    decision = await policy.check("snooze", secret, OUT, where=Where(OTHER))
    text, blocks = ui.refusal(decision)
    assert text == ":no_entry: That belongs to an incident you are not in, so nothing was done."
    assert secret.id not in str(blocks) and CMD not in str(blocks) and CHANNEL not in str(blocks)
    public = await policy.check("snooze", incident(), OUT, where=Where(OTHER))
    assert f"<#{CHANNEL}>" in ui.refusal(public)[0]


# -- the declare rate ------------------------------------------------------------------------


async def test_declares_are_limited_per_user_and_come_back_with_time(store: Store) -> None:
    clock = Clock()
    policy = await make(store, {"declare_per_user": "2/1m"}, clock=clock)
    assert (await policy.check("declare", None, OUT)).allowed
    assert (await policy.check("declare", None, OUT)).allowed
    refused = await policy.check("declare", None, OUT)
    assert (refused.allowed, refused.why, refused.retry_after) == (False, "rate", 30)
    assert ui.rate_text(refused) == (
        "Nothing was declared: you may declare 2 per 1 min. Try again in 30 s."
    )
    assert (await policy.check("declare", None, MEM)).allowed  # per user
    clock.t += 30
    assert (await policy.check("declare", None, OUT)).allowed
    assert not (await policy.check("declare", None, OUT)).allowed


# -- refusals on the timeline ----------------------------------------------------------------


async def test_a_refusal_is_noted_once_a_minute_per_person_and_action(store: Store) -> None:
    policy = await make(store)
    inc = incident()
    await store.create(inc, _declared(inc))
    for _ in range(3):
        await policy.check("resolve", inc, MEM, where=Where(CHANNEL))
    await policy.check("snooze", inc, MEM, where=Where(CHANNEL))
    await policy.check("resolve", inc, OUT, where=Where(OTHER))
    refused = [e for e in await store.timeline(inc.id) if e.kind == "refused"]
    assert [(e.actor, e.text) for e in refused] == [
        (
            MEM,
            f"Refused: <@{MEM}> may not resolve it (only the incident's role holders "
            f"(<@{CMD}> commander, <@{TL}> tech lead))",
        ),
        (
            MEM,
            f"Refused: <@{MEM}> may not snooze its update reminder (only the incident's "
            f"role holders (<@{CMD}> commander, <@{TL}> tech lead))",
        ),
        (OUT, f"Refused: <@{OUT}> tried to resolve it from <#{OTHER}>"),
    ]
    assert (await store.get(inc.id)).generation == inc.generation  # type: ignore[union-attr]


def _declared(inc: Incident) -> TimelineEntry:
    return TimelineEntry(at=0, actor=inc.declared_by, kind="declared", text="Declared")


# -- what a refusal says ---------------------------------------------------------------------


async def test_a_refusal_names_who_may_and_asks_them(store: Store) -> None:
    policy = await make(store, {"resolve": ["roles", GROUP, OUT]})
    decision = await policy.check("resolve", incident(), MEM, where=Where(CHANNEL))
    text, blocks = ui.refusal(decision)
    assert text == (
        f":no_entry: Only the incident's role holders (<@{CMD}> commander, <@{TL}> tech lead), "
        f"members of <!subteam^{GROUP}> or <@{OUT}> may resolve it."
    )
    [ask] = blocks[-1]["elements"]
    assert (ask["action_id"], ask["value"]) == (ui.ACTION_ASK, "20260301-1|resolve")
    assert ui.asked(MEM, decision.doing, decision.ask)[0] == (
        f":raising_hand: <@{MEM}> asks <@{CMD}>, <@{TL}>, <!subteam^{GROUP}>, <@{OUT}> "
        "to resolve it."
    )
    check_blocks(blocks)


async def test_a_refusal_is_mrkdwn_whose_only_tokens_are_the_people_it_names(
    store: Store,
) -> None:
    # a stored role holder that is no user id (data from an older install, say) is text
    policy = await make(store)
    inc = incident(roles={"commander": CMD, "tech_lead": "<!channel>"})
    decision = await policy.check("resolve", inc, MEM, where=Where(CHANNEL))
    text, _ = ui.refusal(decision)
    assert isinstance(text, Mrkdwn) and isinstance(decision.ask[0], Mrkdwn)
    assert text == (
        f":no_entry: Only the incident's role holders (<@{CMD}> commander, "
        "&lt;!channel&gt; tech lead) may resolve it."
    )
    assert notice(text).users == {CMD} and not notice(text).broadcasts
    line = ui.refusal_line(decision, MEM)
    assert notice(line).users == {MEM, CMD} and not notice(line).broadcasts


# -- the verbs' actions, and the config --------------------------------------------------------


def test_severity_and_status_map_to_their_actions() -> None:
    config = IncidentConfig()
    inc = incident(severity="SEV2")
    assert severity_action(config, inc, "SEV1") == "raise_severity"
    assert severity_action(config, inc, "SEV4") == "lower_severity"
    assert status_action("resolved") == "resolve"
    assert status_action("monitoring") == "status"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("permissions:\n  resolve: []\n", "permissions.resolve: List should have at least 1 item"),
        ("permissions:\n  resolve: [admins]\n", "'admins' is not anyone, channel_members"),
        ("permissions:\n  doctor: [roles]\n", ":2: permissions.doctor: roles means nothing"),
        ("permissions:\n  declare_per_user: lots\n", "'lots' is not a rate like 10/1m"),
        ("permissions:\n  declare_per_user: 0/1m\n", "greater than 0"),
        ("permissions:\n  reslove: [roles]\n", "permissions.reslove: unknown key"),
    ],
)
def test_bad_permissions_are_named(tmp_path: Any, text: str, needle: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert needle in str(err.value)


def test_permissions_load_with_their_kinds(tmp_path: Any) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "permissions:\n  resolve: [roles, S0ABC, U0XYZ, Channel-Members]\n"
        "  declare_per_user: 3/10s\n"
    )
    config = load_config(path)
    assert config.permissions.resolve == ["roles", "S0ABC", "U0XYZ", "channel_members"]
    assert str(config.permissions.declare_per_user) == "3/10 s"

"""The App Home over the wire: people open the bot's Home tab (`app_home_opened`, as
Slack sends it), the bot publishes it with views.publish (checked by the fake Slack as
Slack checks a `home` view), keeps it current for them as incidents change, and its
*Declare incident* button opens the declare form.

Alice and Bob open their Home tabs; Carol and Dave are colleagues who may not have."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import pytest

from blocks.home import ACTION_DECLARE
from blocks.incident import DECLARE_CALLBACK
from blocks.limits import view_problems
from bot.core.config import IncidentConfig
from bot.core.models import Incident
from bot.fakes.slack.model import APP_ID, VERIFICATION_TOKEN
from bot.oncall import NOT_CONFIGURED
from tests.integration.harness import Harness, eventually, start
from tests.integration.test_permissions import declare
from tests.integration.test_slack_transport import post_raw

ALICE, BOB, CAROL, DAVE = "U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"


def config(**extra: Any) -> IncidentConfig:
    return IncidentConfig.model_validate({"scheduler": {"tick": 0.1, "retry": 0.1}, **extra})


async def started(redis_url: str, cfg: IncidentConfig, **kw: Any) -> Harness:
    h = await start(redis_url, cfg, **kw)
    h.bot.services.home.coalesce = 0.2  # a burst's window; the settle signal waits for it
    return h


@pytest.fixture
async def h(redis_url: str) -> AsyncIterator[Harness]:
    harness = await started(redis_url, config())
    yield harness
    await harness.stop()


def publishes(h: Harness, user: str) -> int:
    """views.publish calls Slack accepted for `user`'s Home tab."""
    return sum(1 for c in h.fake.calls_to("views.publish") if c.ok and c.args["user_id"] == user)


def home_text(h: Harness, user: str) -> str:
    """Everything `user`'s Home tab shows, one block a line ("" before one is published)."""
    view = h.fake.homes.get(user)
    if view is None:
        return ""
    lines = []
    for block in view["blocks"]:
        if "text" in block:
            lines.append(block["text"]["text"])
        for element in block.get("elements", []):
            lines.append(element["text"]["text"] if element["type"] == "button" else "")
            lines.append(element.get("text", "") if element["type"] == "mrkdwn" else "")
    return "\n".join(line for line in lines if line)


async def opened(h: Harness, user: str) -> str:
    """`user` opens their Home tab; what it shows once the bot has published it."""
    before = publishes(h, user)
    status = await h.fake.open_home(user)
    assert status == 200
    await eventually(lambda: publishes(h, user) > before or h.fake.homes.get(user))
    await h.settled()
    return home_text(h, user)


async def shows(h: Harness, user: str, text: str, *, present: bool = True) -> None:
    await eventually(lambda: (text in home_text(h, user)) == present)


def last_sent(h: Harness, kind: str) -> dict[str, Any]:
    """The last request of `kind` (an event's type, or an interaction's) the fake sent."""
    for sent in reversed(h.fake.sent):
        raw = sent.body.decode()
        body = json.loads(parse_qs(raw)["payload"][0] if raw.startswith("payload=") else raw)
        if kind in (body.get("type"), (body.get("event") or {}).get("type")):
            return dict(body)
    raise AssertionError(f"no {kind} was sent")


def drained(h: Harness) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await h.bot.services.events.backlog() == 0

    return check


async def in_channel(h: Harness, incident: Incident, text: str, *, user: str = ALICE) -> None:
    assert incident.channel_id
    ack = await h.fake.slash_command(user, incident.channel_id, "/incident", text)
    assert ack.status == 200


async def test_opening_home_lists_open_incidents_with_the_viewers_own_first(h: Harness) -> None:
    bobs = await declare(h, "SEV1 Search is slow", user=BOB)
    alices = await declare(h, "SEV3 Checkout is down", user=ALICE)
    shown = await opened(h, ALICE)
    assert view_problems(h.fake.homes[ALICE], kinds=("home",)) == []
    assert h.fake.homes[ALICE]["type"] == "home"
    # hers first although Bob's is worse; each with its channel, commander and age
    assert shown.index("Checkout is down") < shown.index("Search is slow")
    assert f"<#{alices.channel_id}>" in shown and f"<#{bobs.channel_id}>" in shown
    assert "Commander <@U0BOB>" in shown and "^{ago}|" in shown
    assert "Declare incident" in shown
    # the event Slack sent: a Home tab opened, in Alice's conversation with the app
    event = last_sent(h, "app_home_opened")["event"]
    assert (event["type"], event["user"], event["tab"]) == ("app_home_opened", ALICE, "home")
    assert event["channel"].startswith("D") and "view" not in event
    # opened again: Slack sends the tab it shows, and an unchanged tab is not published again
    await opened(h, ALICE)
    event = last_sent(h, "app_home_opened")["event"]
    assert event["view"]["id"] == h.fake.homes[ALICE]["id"]
    assert publishes(h, ALICE) == 1


async def test_a_private_incident_is_redacted_for_outsiders_and_whole_for_members(
    h: Harness,
) -> None:
    secret = await declare(h, "--private SEV2 Leaked AWS keys", user=ALICE)
    outsider = await opened(h, BOB)
    assert "Leaked" not in json.dumps(h.fake.homes[BOB])
    assert f"*{secret.id}* · :lock: _Private incident_" in outsider
    assert "ask the security lead or <@U0ALICE> for access" in outsider
    member = await opened(h, ALICE)
    assert "Leaked AWS keys" in member and f"<#{secret.channel_id}>" in member


async def test_declaring_and_resolving_republish_once_for_those_who_opened_home(
    h: Harness,
) -> None:
    assert "No open incidents" in await opened(h, ALICE)
    assert "No open incidents" in await opened(h, BOB)
    incident = await declare(h, "SEV3 Payments are failing", user=CAROL)
    for user in (ALICE, BOB):
        await shows(h, user, "Payments are failing")
    await h.settled()
    assert (publishes(h, ALICE), publishes(h, BOB)) == (2, 2)  # one change, one publish each
    await in_channel(h, incident, "resolve Card processor fixed", user=CAROL)
    for user in (ALICE, BOB):
        await shows(h, user, "No open incidents")
    await h.settled()
    assert (publishes(h, ALICE), publishes(h, BOB)) == (3, 3)
    assert publishes(h, DAVE) == publishes(h, CAROL) == 0  # they never opened it


async def test_a_burst_of_changes_costs_two_publishes_and_an_unseen_change_none(
    h: Harness,
) -> None:
    await opened(h, ALICE)
    incident = await declare(h, "SEV3 Checkout is down", user=ALICE)
    await shows(h, ALICE, "Checkout is down")
    await h.settled()
    before = publishes(h, ALICE)

    # Slack is slow to take the first publish; four more changes land meanwhile
    held = h.fake.hold("views.publish")
    await in_channel(h, incident, "status identified")
    await eventually(held.arrived.is_set)
    for change in (
        "status monitoring",
        "severity SEV4",
        "role tech_lead <@U0BOB|bob>",
        "status identified",
    ):
        await in_channel(h, incident, change)
    await eventually(drained(h))  # every change's event is handled
    held.release()
    await h.settled()
    assert publishes(h, ALICE) - before == 2  # the one held, and one for all four after it
    shown = home_text(h, ALICE)
    assert "SEV4" in shown and "Identified" in shown and "_You: Commander_" in shown
    assert (await h.incident(incident.id)).roles["tech_lead"] == BOB  # all four landed

    # a status update's text is not on the Home tab: its refresh publishes nothing
    version = await h.store.home_version()
    await in_channel(h, incident, "update Rolled back the deploy")
    await h.settled(until=time.time() + 1)  # and the refresh due a moment after it ran
    assert await h.store.home_version() > version  # the change was seen...
    assert not await h.store.redis.exists(h.store.keys.home_changed)  # ...and refreshed
    assert publishes(h, ALICE) - before == 2  # ...and nothing was published


async def test_the_declare_button_opens_the_declare_form_and_submitting_declares(
    h: Harness,
) -> None:
    await opened(h, DAVE)
    home = h.fake.homes[DAVE]
    answer = await h.fake.click_view(DAVE, home["id"], ACTION_DECLARE)
    assert answer.status == 200
    # Slack sent block_actions from the Home tab's view
    payload = last_sent(h, "block_actions")
    assert payload["container"] == {"type": "view", "view_id": home["id"]}
    assert payload["view"]["type"] == "home"
    form = await eventually(
        lambda: next(
            (
                vid
                for vid, v in h.fake.views.items()
                if v["callback_id"] == DECLARE_CALLBACK and h.fake.view_owner(vid) == DAVE
            ),
            None,
        )
    )
    result = await h.fake.submit_view(DAVE, form, {"title": {"title": "Login page blank"}})
    assert result.status == 200 and not result.errors
    await shows(h, DAVE, "Login page blank")
    [incident] = await h.store.open_incidents()
    assert incident.declared_by == DAVE and incident.commander == DAVE
    assert "_You: Commander_" in home_text(h, DAVE)


async def test_with_pagerduty_off_home_still_publishes_and_says_so(h: Harness) -> None:
    shown = await opened(h, ALICE)
    assert "On call now" in shown and NOT_CONFIGURED in shown


async def test_with_pagerduty_failing_home_still_publishes_and_says_so(redis_url: str) -> None:
    cfg = config(pagerduty={"escalation_policy_id": "PEP_MAIN", "schedules": {"db": "PS_DB"}})
    h = await started(redis_url, cfg, pagerduty=True)
    try:
        assert h.pd is not None
        h.pd.fail("/", status=503, times=50)
        shown = await opened(h, ALICE)
        assert "PagerDuty is unreachable (HTTP 503)" in shown and "No open incidents" in shown
    finally:
        await h.stop()


async def test_an_unsigned_or_forged_app_home_opened_is_refused(h: Harness) -> None:
    envelope = {
        "token": VERIFICATION_TOKEN,
        "team_id": h.fake.team_id,
        "api_app_id": APP_ID,
        "type": "event_callback",
        "event_id": "Ev0FORGED",
        "event_time": int(time.time()),
        "event": {
            "type": "app_home_opened",
            "user": ALICE,
            "channel": "D0ALICE",
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        },
    }
    body = json.dumps(envelope).encode()
    as_json = {"Content-Type": "application/json"}
    forged = {
        "X-Slack-Request-Timestamp": str(int(time.time())),
        "X-Slack-Signature": "v0=" + "0" * 64,
    }
    assert (await post_raw(h, body, as_json))[0] == 401
    assert (await post_raw(h, body, {**as_json, **forged}))[0] == 401
    await h.settled()
    assert h.fake.calls_to("views.publish") == []
    assert await h.store.home_viewers(now=time.time(), keep=3600) == []
    # signed with the app's secret, the very same event is served
    assert (await post_raw(h, body, {**as_json, **h.fake.signed_headers(body)}))[0] == 200
    await eventually(lambda: publishes(h, ALICE) == 1)

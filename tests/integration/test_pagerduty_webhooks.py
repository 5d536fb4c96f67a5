"""PagerDuty webhooks bound to what they claim: a signed v3 webhook acts on our page only
when it is about the page's own PagerDuty incident (`data.id`). One about another
PagerDuty incident that carries our incident_key or title changes nothing; the key only
finds our page's incident while its id is not recorded, and only on our service."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from bot.core.models import Incident, PageState
from bot.fakes.pagerduty import FakePagerDuty
from tests.integration import test_paging
from tests.integration.harness import Harness, eventually, start
from tests.integration.test_paging import config, declare, paged, pd, said, timeline, timers

ACKED = "acknowledged the page"
slow = test_paging.slow  # the acknowledgement timeout is an hour: only the test escalates


@pytest.fixture
async def h(redis_url: str) -> AsyncIterator[Harness]:
    harness = await start(redis_url, config("2s"), pagerduty=True)
    yield harness
    await harness.stop()


def impostor(fake: FakePagerDuty, page: PageState, *, service: str = "PSVC_PAYMENTS") -> str:
    """Another team's PagerDuty incident, on another service, whose incident_key and title
    copy our page's (PagerDuty keeps keys apart per service, so it may)."""
    if service not in fake.services:
        fake.add_service(service, "Payments", "PEP_MAIN")
    ours = fake.incidents[page.pd_incident_id or ""]
    other = fake.trigger(title=ours["title"], service_id=service, incident_key=page.incident_key)
    return str(other["id"])


async def escalating(h: Harness, incident: Incident) -> PageState:
    page = await paged(h, incident)

    async def only_escalation_pending() -> bool:
        return [i.kind for i in await timers(h, incident)] == ["escalate"]

    await eventually(only_escalation_pending)
    return page


async def test_an_acknowledgement_of_another_pd_incident_with_our_key_changes_nothing(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    incident = await declare(h)
    page = await escalating(h, incident)
    other = impostor(pd(h), page)
    caplog.set_level(logging.INFO, logger="bot.paging")

    await pd(h).acknowledge(other, "PU_BOB")  # the route answers once it has acted
    assert pd(h).webhook_deliveries[-1] == ("incident.acknowledged", 200)
    current = await h.incident(incident.id)
    assert current.page is not None and current.page.status == "triggered"
    assert current.page.acked_at is None and said(h, incident, lambda t: ACKED in t) == []
    [line] = [r for r in caplog.records if r.getMessage().startswith("PagerDuty webhook ignored")]
    assert page.pd_incident_id and page.pd_incident_id in line.getMessage()

    # nobody acknowledged ours: the escalation goes on
    await eventually(lambda: said(h, incident, lambda t: "escalated to level 2" in t), timeout=8)
    # the webhook about our own PagerDuty incident still acknowledges it
    await pd(h).acknowledge(page.pd_incident_id, "PU_BOB")
    await eventually(lambda: said(h, incident, lambda t: ACKED in t))
    assert (await h.incident(incident.id)).page.status == "acknowledged"  # type: ignore[union-attr]


async def test_an_old_page_of_a_reopened_incident_does_not_speak_for_the_new_one(
    slow: Harness,
) -> None:
    h = slow
    incident = await declare(h)
    first = await paged(h, incident)
    old = first.pd_incident_id
    assert old
    await h.command("resolve Looked fixed", channel=incident.channel_id)
    await eventually(lambda: pd(h).incidents[old]["status"] == "resolved")
    await h.bot.services.incidents.reopen(
        await h.incident(incident.id), by="U0ALICE", reason="it fired again"
    )

    async def second_page() -> PageState | None:
        page = (await h.incident(incident.id)).page
        fresh = page and page.pd_incident_id and page.pd_incident_id != old
        return page if fresh else None

    second = await eventually(second_page)
    # the old PagerDuty incident (ours, linked, same key) reports again
    assert await pd(h).send_webhook("incident.resolved", old) == 200
    page = (await h.incident(incident.id)).page
    assert page is not None and page.status == "triggered"
    assert page.pd_incident_id == second.pd_incident_id


async def forget_the_pd_incident(h: Harness, incident: Incident) -> None:
    """The page's record of its PagerDuty incident is lost (as a failover can lose the
    last write): what is left to find it by is its key."""

    def lose(inc: Incident) -> None:
        assert inc.page is not None
        inc.page.pd_incident_id = None

    await h.store.update(incident.id, lose)


@pytest.mark.parametrize("drop", [(), ("service",)], ids=["service_in_payload", "asks_rest"])
async def test_a_page_whose_pd_incident_was_not_recorded_is_found_by_key_on_our_service(
    slow: Harness, drop: tuple[str, ...]
) -> None:
    h = slow
    incident = await declare(h)
    page = await escalating(h, incident)
    ours = page.pd_incident_id
    assert ours
    await forget_the_pd_incident(h, incident)

    # another service's incident with our key is not ours to find
    other = impostor(pd(h), page)
    await pd(h).acknowledge(other, "PU_CAROL", drop=drop)
    assert pd(h).webhook_deliveries[-1] == ("incident.acknowledged", 200)
    lost = (await h.incident(incident.id)).page
    assert lost is not None and (lost.pd_incident_id, lost.status) == (None, "triggered")

    # ours, found by its key on our service: recorded, and it acts
    asked = len(pd(h).calls_to("GET", f"/incidents/{ours}"))
    await pd(h).acknowledge(ours, "PU_BOB", drop=drop)
    assert pd(h).webhook_deliveries[-1] == ("incident.acknowledged", 200)
    found = (await h.incident(incident.id)).page
    assert found is not None and (found.pd_incident_id, found.status) == (ours, "acknowledged")
    assert await timers(h, incident) == []
    assert "Acknowledged in PagerDuty by Bob Example" in await timeline(h, incident)
    # the service came from the payload, else from the REST API
    assert len(pd(h).calls_to("GET", f"/incidents/{ours}")) - asked == (1 if drop else 0)


async def test_a_webhook_finds_our_incident_by_its_key_and_a_keyless_one_by_an_old_link(
    slow: Harness,
) -> None:
    incident = await declare(slow)
    ours, h = (await escalating(slow, incident)).pd_incident_id or "", slow
    # a page links nothing in Redis: every v3 incident payload names ours by its key
    assert ours and await h.store.incident_for_pd(ours) is None

    # a payload without the key finds nothing (no link) and changes nothing
    assert await pd(h).send_webhook("incident.acknowledged", ours, drop=("incident_key",)) == 200
    still = (await h.incident(incident.id)).page
    assert still is not None and still.status == "triggered"

    # a release before this one linked the PagerDuty incident to ours: the link finds it
    await h.store.redis.set(h.store.keys.pd_incident(ours), incident.id, ex=3600)
    sent = await pd(h).send_webhook(
        "incident.acknowledged", ours, agent="PU_BOB", drop=("incident_key",)
    )
    assert sent == 200
    found = (await h.incident(incident.id)).page
    assert found is not None and found.status == "acknowledged"
    assert "Acknowledged in PagerDuty by Bob Example" in await timeline(h, incident)

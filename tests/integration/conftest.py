"""Fixtures of the integration tests: the fakes, each serving on a port of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.fakes.pagerduty import FakePagerDuty
from bot.fakes.slack import FakeSlack


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    """A fake Slack workspace serving on a port of its own."""
    slack = FakeSlack()
    await slack.start()
    yield slack
    await slack.stop()


@pytest.fixture
def slack(fake: FakeSlack) -> FakeSlack:
    """`fake`, by the name of the tests that check Slack itself (the doctor's)."""
    return fake


@pytest.fixture
async def pd() -> AsyncIterator[FakePagerDuty]:
    """A fake PagerDuty account serving on a port of its own."""
    account = FakePagerDuty()
    await account.start()
    yield account
    await account.stop()

"""Fixtures of the integration tests that start bots as processes of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.fakes.slack import FakeSlack


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    """A fake Slack workspace serving on a port of its own."""
    slack = FakeSlack()
    await slack.start()
    yield slack
    await slack.stop()

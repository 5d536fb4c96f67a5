"""What a feature's service is handed: the store, Slack, the config and the clock
(`Feature`), and the durable due-items for one with timed work (`Scheduled`).

A service is a dataclass on one of these, naming only the parts of its own as fields
(positional after the shared ones; `clock` and anything after `KW_ONLY` by keyword), and
deriving the rest in `__post_init__`:

    @dataclass(eq=False)
    class FollowUps(Scheduled):
        metrics: Metrics

is `FollowUps(store, slack, config, scheduler, metrics, clock=...)`. `eq=False` on each:
a service is itself, compared and hashed by identity.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass

from bot.core.config import IncidentConfig
from bot.core.schedule import Scheduler
from bot.core.slack import Slack
from bot.core.store import Store


@dataclass(eq=False)
class Feature:
    store: Store
    slack: Slack
    config: IncidentConfig
    _: KW_ONLY
    clock: Callable[[], float] = time.time


@dataclass(eq=False)
class Scheduled(Feature):
    scheduler: Scheduler

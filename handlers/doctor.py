"""`/incident doctor`: the set-up checklist, ephemeral, from any channel.

The checks run after ack() (they wait on Slack, PagerDuty and Redis, each with its own
timeout), against the running bot's own clients and config: what the doctor finds is
what the bot itself meets.
"""

from __future__ import annotations

import time

from slack_bolt.async_app import AsyncApp

import blocks.doctor as ui
from bot.doctor import Setup, run_checks
from bot.services import Services
from handlers.parse import no_args
from handlers.replies import reply
from handlers.verbs import VerbContext, verb

USAGE = "/incident doctor"


@verb("doctor", usage=USAGE, in_incident=False, action="doctor", grammar=no_args)
async def doctor(ctx: VerbContext) -> None:
    svc = ctx.svc
    began = time.monotonic()
    results = await run_checks(
        Setup(
            settings=svc.settings,
            store=svc.store,
            slack=svc.slack,
            pagerduty=svc.pagerduty,
            config=svc.config,
        )
    )
    text, blocks = ui.doctor_report(results, seconds=time.monotonic() - began)
    await ctx.respond(**reply((text, blocks), response_type="ephemeral", replace_original=False))


def register(app: AsyncApp, svc: Services) -> None:
    """Nothing to wire: the verb above is marked for the registry (handlers/verbs.py)."""

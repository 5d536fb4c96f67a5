"""A fake PagerDuty that speaks the real wire format over HTTP.

It owns a small in-memory PagerDuty account (users, schedules with one rotation layer and
overrides, escalation policies, services, incidents) and serves the REST API v2 routes the bot
uses, the Events API v2 `/v2/enqueue`, and sends signed v3 webhooks. Tests and the local
sandbox both run it; it rejects what the real API rejects (missing token, missing `From`,
unknown service, duplicate open incident key, escalation beyond the policy) so the client is
exercised against the same failures it will meet in production.

On-call is computed, never stored: a schedule's final schedule at time t is the newest override
covering t, else the rotation layer (users in order, fixed rotation length from a start
instant). The clock is injectable (`now=`) so tests are deterministic.

One module a seam: ``model`` (schedules, policies), ``account`` (state, set-up, on-call),
``server`` (HTTP, test controls), ``directory`` (users, schedules, policies, services),
``incidents``, ``webhooks`` (v3, signed), ``events`` (Events API v2).
"""

from bot.fakes.pagerduty.fake import FakePagerDuty
from bot.fakes.pagerduty.model import Call, Override, Policy, Schedule
from bot.fakes.pagerduty.webhooks import sign

__all__ = ["Call", "FakePagerDuty", "Override", "Policy", "Schedule", "sign"]

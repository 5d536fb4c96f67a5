"""Wire-true fakes of the outside services (Slack Web API, PagerDuty) for tests and the sandbox.

Each fake is a real aiohttp server that speaks the service's wire format and rejects what the
real service rejects, so the bot runs against it unchanged (only its base URL differs).
Import the fake you need from its module, e.g. ``from bot.fakes.slack import FakeSlack``.
"""

"""The local sandbox: the real bot, an in-process fake Slack (and PagerDuty), one port.

Everything runs in this process on 127.0.0.1:$PORT: the bot's own routes, the fake
Slack Web API under /fake/slack/, the fake PagerDuty under /fake/pagerduty/ (its side
panel: bot/sandbox/pagerduty_panel.py), and the Slack-like page at /. The page's actions
reach the bot as real signed Slack requests, so the sandbox exercises the same code
path as production. State lives in an embedded fakeredis unless REDIS_URL is set; then
only in an empty Redis db (which the sandbox claims) and under its own key prefix.

Only this machine's browser gets in: every request must name 127.0.0.1 or localhost with
this port as its Host (DNS rebinding), carry no other site's Origin (cross-site requests
and WebSockets), and the page's POSTs are JSON (bot/sandbox/web.py: `local_only`).
"""

from __future__ import annotations

import logging
import secrets
import sys

from aiohttp.web import AppKey, Application, AppRunner, SockSite

from bot.core.config import IncidentConfig, Settings
from bot.core.errors import STORE_ERRORS
from bot.core.logs import redact_url
from bot.core.store import SANDBOX_PREFIX, Redis, Store
from bot.fakes.pagerduty import FakePagerDuty
from bot.fakes.slack import FakeSlack
from bot.sandbox import alerts_panel
from bot.sandbox.pagerduty_panel import PANEL, demo_config, mount_pagerduty_panel, panel_html
from bot.sandbox.private_demo import demo_private
from bot.sandbox.procedure_demo import demo_procedure

# (bot.sandbox.web shadows the name `web` in this package: aiohttp's names are imported)
from bot.sandbox.web import local_only, mount_sandbox_ui
from bot.server import (
    build,
    connect_redis,
    finish_work,
    listen,
    listen_problem,
    until_stopped,
)
from bot.services import Services

log = logging.getLogger(__name__)

SANDBOX_HOST = "127.0.0.1"
# The bot's parts behind the page (tests wait on its scheduler's settle signal).
SANDBOX_SERVICES: AppKey[Services] = AppKey("sandbox_services", Services)


def uses_real_redis(settings: Settings) -> bool:
    """Only a REDIS_URL set explicitly (env or argument) means a real Redis; the default
    localhost URL does not, so a fresh machine needs no Redis at all."""
    return "redis_url" in settings.model_fields_set


def sandbox_redis(settings: Settings) -> Redis:
    """A real Redis when REDIS_URL is set explicitly; else an embedded one."""
    if uses_real_redis(settings):
        return connect_redis(settings)
    import fakeredis

    return fakeredis.FakeAsyncRedis(decode_responses=True)


def redis_note(settings: Settings) -> str:
    if uses_real_redis(settings):
        return f"state in the Redis at {redact_url(settings.redis_url)}"
    return "state in an embedded Redis, lost on exit (set REDIS_URL to keep it)"


def startup_line(settings: Settings, port: int) -> str:
    """The one line `python -m bot` prints in sandbox mode: where to go, and what it is."""
    return (
        f"Incident bot sandbox: open http://localhost:{port}/ · listening on "
        f"{SANDBOX_HOST} only · {redis_note(settings)}"
    )


def build_sandbox(settings: Settings, config: IncidentConfig, *, port: int) -> Application:
    base = f"http://{SANDBOX_HOST}:{port}"
    token = "xoxb-sandbox-" + secrets.token_hex(8)
    secret = secrets.token_hex(16)
    fake = FakeSlack(bot_token=token, signing_secret=secret, app_url=f"{base}/slack/events")
    redis = sandbox_redis(settings)
    # The fake PagerDuty: its webhooks come back to the bot, signed with its secret.
    pd = FakePagerDuty(
        api_key="pd-sandbox-" + secrets.token_hex(8),
        webhook_secret=secrets.token_hex(16),
        webhook_url=f"{base}/webhooks/pagerduty",
    )
    pd_url = f"{base}/fake/pagerduty"
    bot_settings = settings.model_copy(
        update={
            "slack_bot_token": token,
            "slack_signing_secret": secret,
            "slack_app_token": None,
            "slack_api_url": f"{base}/fake/slack/api/",
            "pagerduty_api_key": pd.api_key,
            "pagerduty_api_url": pd_url,
            "pagerduty_events_url": pd_url,
            "pagerduty_from_email": "alice@example.com",
            "pagerduty_webhook_secret": pd.webhook_secret,
            # the Alerts panel sends demo alerts to the bot's own Alertmanager route
            "alertmanager_token": settings.alertmanager_token or alerts_panel.sandbox_token(),
        }
    )
    demo = demo_procedure(alerts_panel.demo_config(demo_config(config)), fake)
    demo = demo_private(demo, fake)
    bot = build(bot_settings, demo, redis=redis, key_prefix=SANDBOX_PREFIX)
    # outermost, so it also guards the bot's routes and the fakes' sub-apps
    bot.web.middlewares.insert(0, local_only(port))
    bot.web[SANDBOX_SERVICES] = bot.services
    fake.mount(bot.web, "/fake/slack/", f"{base}/fake/slack/")
    pd.mount(bot.web, "/fake/pagerduty/", base)
    panels = {
        alerts_panel.PANEL: lambda: alerts_panel.panel_html(bot.services.config),
        PANEL: lambda: panel_html(pd),
    }
    mount_sandbox_ui(bot.web, fake, extra_panels=panels)
    mount_pagerduty_panel(bot.web, pd, fake)
    assert bot_settings.alertmanager_token
    alerts_panel.mount_alerts_panel(
        bot.web, base_url=base, token=bot_settings.alertmanager_token, fake=fake
    )
    return bot.web


async def run_sandbox(settings: Settings, config: IncidentConfig) -> int:
    """Serve the sandbox until SIGINT/SIGTERM; the exit code (2: could not start)."""
    port = settings.port
    try:  # before anything starts: a port in use is one line, at once
        sock = listen(SANDBOX_HOST, port)
    except OSError as exc:
        print(
            f"Cannot start the sandbox on {SANDBOX_HOST}:{port}: {listen_problem(exc)}; set "
            "PORT to a free port.",
            file=sys.stderr,
        )
        return 2
    if uses_real_redis(settings):
        problem = await _redis_problem(settings)
        if problem:
            sock.close()
            print(f"Cannot start the sandbox: {problem}", file=sys.stderr)
            return 2
    app = build_sandbox(settings, config, port=port)
    runner = AppRunner(app)
    await runner.setup()
    await SockSite(runner, sock).start()
    print(startup_line(settings, port), flush=True)
    try:
        await until_stopped()
    finally:
        await finish_work(app)
        await runner.cleanup()
    return 0


async def _redis_problem(settings: Settings) -> str | None:
    """Why the explicitly configured Redis cannot be used, or None when it answers and
    its db is the sandbox's (empty, or claimed by a sandbox before)."""
    where = redact_url(settings.redis_url)
    async with connect_redis(settings) as redis:
        try:
            await redis.ping()
        except STORE_ERRORS as exc:
            return (
                f"the Redis at {where} does not answer ({exc}); unset REDIS_URL to use an "
                "embedded one."
            )
        try:
            foreign = await Store(redis, prefix=SANDBOX_PREFIX).claim_db()
        except STORE_ERRORS as exc:  # e.g. an ACL without EVAL
            return f"the Redis at {where} would not say whether it is the sandbox's ({exc})."
    if foreign is not None:
        # It may be the bot's own store: a sandbox there would share its memory and its
        # FLUSHDB, and one typo in a prefix would consume its reminders.
        return (
            f"the Redis at {where} holds data that is not the sandbox's (e.g. the key "
            f"{foreign!r}); point REDIS_URL at an empty database (another db number), or "
            "unset it to use an embedded one."
        )
    return None

"""One aiohttp app serving every route; Bolt handles (and signature-checks) Slack's.

`build()` wires the parts; `serve()` runs them until stopped, over HTTP or Socket Mode.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from aiohttp import web
from redis.asyncio import BlockingConnectionPool, Redis
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

import handlers
from bot.alerts import Alerts
from bot.checklists import Checklists
from bot.config import IncidentConfig, Settings
from bot.incidents import Incidents
from bot.metrics import Metrics
from bot.oncall import OnCall
from bot.pager import Pager
from bot.paging import InvalidWebhook, PagerDuty, parse_webhook, verify_webhook_signature
from bot.reminders import RECONCILE_EVERY, Reminders
from bot.runbooks import default_runbooks_dir, load_runbooks
from bot.schedule import Scheduler
from bot.services import Services
from bot.slack import Slack, make_client
from bot.store import Store, StoreUnavailable
from handlers.alerts import alertmanager_webhook

log = logging.getLogger(__name__)


def connect_redis(settings: Settings) -> Redis:
    # Short timeouts: a command must be able to say "store unreachable" within 3 s.
    # redis-py reconnects by itself on the next command once Redis is back.
    # A blocking pool: a burst waits briefly for a free connection instead of failing.
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=128,
        timeout=10,
        decode_responses=True,
        socket_timeout=settings.redis_timeout,
        socket_connect_timeout=settings.redis_timeout,
        health_check_interval=15,
    )
    return Redis(connection_pool=pool)


@dataclass
class Bot:
    services: Services
    bolt: AsyncApp
    web: web.Application


def make_pagerduty(settings: Settings, *, timeout: float = 5.0) -> PagerDuty | None:
    if not settings.pagerduty_api_key:
        return None
    return PagerDuty(
        settings.pagerduty_api_key,
        api_url=settings.pagerduty_api_url,
        events_url=settings.pagerduty_events_url,
        from_email=settings.pagerduty_from_email,
        timeout=timeout,
    )


def build(settings: Settings, config: IncidentConfig, *, redis: Redis | None = None) -> Bot:
    """Wire every part. Raises RunbookError for a broken runbook (start-up stops)."""
    dirs = [default_runbooks_dir()]
    if config.runbooks_dir:
        dirs.append(config.runbooks_dir)  # a team's own runbooks win on the same id
    runbooks = load_runbooks(*dirs)
    redis = redis if redis is not None else connect_redis(settings)
    client = make_client(settings.slack_bot_token, settings.slack_api_url)
    store = Store(redis)
    slack = Slack(client)
    metrics = Metrics()
    services = Services(
        settings=settings,
        config=config,
        store=store,
        slack=slack,
        incidents=Incidents(store, slack, config, metrics=metrics),
        metrics=metrics,
        runbooks=runbooks,
        pagerduty=make_pagerduty(settings),
        checklists=Checklists(store, slack, runbooks),
    )
    assert services.checklists is not None
    services.oncall = OnCall(
        store, slack, services.pagerduty, config.pagerduty, ttl=settings.oncall_cache_ttl
    )
    services.oncall.schedule(services.jobs)
    # a runbook chosen at declaration is posted right after the summary card
    services.incidents.listeners.append(services.checklists.on_incident_event)
    scheduler, reminders, pager = wire_schedule(services)
    alerts = services.alerts = Alerts(
        store,
        slack,
        services.incidents,
        config,
        runbooks,
        scheduler=scheduler,
        registry=metrics.registry,
    )
    bolt = AsyncApp(
        client=client,
        signing_secret=settings.slack_signing_secret or "",
        # Socket Mode traffic is authenticated by the app token instead of signatures
        request_verification_enabled=not settings.slack_app_token,
    )
    handlers.register(bolt, services)
    app = web.Application()

    async def slack_events(request: web.Request) -> web.Response:
        response = await bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(_: web.Request) -> web.Response:
        try:
            await asyncio.wait_for(store.ping(), timeout=settings.redis_timeout + 0.5)
        except (StoreUnavailable, TimeoutError) as exc:
            return web.json_response(
                {"ok": False, "reason": f"redis: {exc or 'timeout'}"}, status=503
            )
        return web.json_response({"ok": True})

    async def metrics_route(_: web.Request) -> web.Response:
        body, content_type = services.metrics.render()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_route)

    async def pagerduty_webhook(request: web.Request) -> web.Response:
        secret = settings.pagerduty_webhook_secret
        if not secret:
            return web.json_response({"ok": False, "error": "webhooks are off"}, status=404)
        body = await request.read()
        if not verify_webhook_signature(secret, body, request.headers.get("X-PagerDuty-Signature")):
            return web.json_response({"ok": False, "error": "bad signature"}, status=401)
        try:
            event = parse_webhook(body)
        except InvalidWebhook as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        try:
            await pager.on_webhook(event)
        except Exception:
            # a non-2xx makes PagerDuty deliver it again; the event id is not consumed
            log.exception("PagerDuty webhook failed", extra={"event": event.id})
            return web.json_response({"ok": False}, status=500)
        return web.json_response({"ok": True})

    app.router.add_post("/webhooks/pagerduty", pagerduty_webhook)
    app.router.add_post("/alerts/alertmanager", alertmanager_webhook(services))

    async def open_http(_: web.Application) -> None:
        # one keep-alive session for every Slack call instead of a connection per call
        client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def close(_: web.Application) -> None:
        if client.session is not None:
            await client.session.close()
        await redis.aclose()
        await redis.connection_pool.disconnect()

    async def start_jobs(_: web.Application) -> None:
        services.jobs.start()

    async def stop_jobs(_: web.Application) -> None:
        if services.jobs.running:
            services.jobs.shutdown(wait=False)

    app.on_startup.append(open_http)
    app.on_startup.append(start_jobs)
    app.on_shutdown.append(stop_jobs)
    app.on_cleanup.append(close)

    async def start_schedule(_: web.Application) -> None:
        scheduler.start(services.jobs)

        # at start, then now and then: cadences and pages lost to a crash, older incidents
        async def reconcile() -> None:
            await reminders.reconcile()
            await pager.reconcile()

        services.jobs.add_job(
            reconcile,
            "interval",
            seconds=RECONCILE_EVERY,
            id="due-reconcile",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            next_run_time=datetime.now(UTC),
        )

    async def stop_schedule(_: web.Application) -> None:
        await scheduler.stop()

    app.on_startup.append(start_schedule)

    async def start_alerts(_: web.Application) -> None:
        await alerts.start()

    async def stop_alerts(_: web.Application) -> None:
        await alerts.stop()

    app.on_startup.append(start_alerts)
    # before Redis closes: the alert worker stops; what it had not acked is redelivered
    app.on_cleanup.insert(0, stop_alerts)
    # before Redis closes: running handlers finish (or keep their lease for a retry)
    app.on_cleanup.insert(0, stop_schedule)
    return Bot(services=services, bolt=bolt, web=app)


def wire_schedule(services: Services) -> tuple[Scheduler, Reminders, Pager]:
    """Durable due-items, and the features made of them: update reminders and paging."""
    timing = services.config.scheduler
    scheduler = Scheduler(
        services.store,
        tick=timing.tick.total_seconds(),
        lease=timing.lease.total_seconds(),
        retry=timing.retry.total_seconds(),
        registry=services.metrics.registry,
    )
    reminders = Reminders(services.store, services.slack, services.config, scheduler)
    reminders.install(services.incidents)
    pager = Pager(
        services.store,
        services.slack,
        services.config,
        scheduler,
        services.pagerduty,
        webhooks=bool(services.settings.pagerduty_webhook_secret),
    )
    pager.install(services.incidents)
    services.scheduler, services.reminders, services.pager = scheduler, reminders, pager
    return scheduler, reminders, pager


async def serve(bot: Bot, settings: Settings) -> None:
    """Serve HTTP on $PORT; with SLACK_APP_TOKEN, Slack traffic comes over Socket Mode."""
    runner = web.AppRunner(bot.web)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    socket_mode = None
    if settings.slack_app_token:
        from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

        socket_mode = AsyncSocketModeHandler(bot.bolt, settings.slack_app_token)
        await socket_mode.connect_async()
        log.info("connected to Slack over Socket Mode")
    log.info("serving", extra={"port": settings.port, "host": settings.host})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        if socket_mode is not None:
            await socket_mode.close_async()
        await runner.cleanup()

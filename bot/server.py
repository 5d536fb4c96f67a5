"""One aiohttp app serving every route; Slack's go through bot/core/slack_transport.py to Bolt.

`build()` wires the parts; `serve()` runs them until stopped, over HTTP or Socket Mode.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from prometheus_client import Counter
from slack_bolt.async_app import AsyncApp
from slack_bolt.listener.async_listener_start_handler import AsyncListenerStartHandler
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

import handlers
from bot.alerts import Alerts
from bot.core import guard
from bot.core.activity import Activity
from bot.core.config import IncidentConfig, Settings
from bot.core.consistency import Consistency
from bot.core.errors import STORE_ERRORS, StoreUnavailable
from bot.core.events import Events, lifecycle
from bot.core.logs import redact_url
from bot.core.metrics import Metrics
from bot.core.pagerduty import InvalidWebhook, PagerDuty, parse_webhook, verify_webhook_signature
from bot.core.policy import Policy
from bot.core.schedule import JOB_ID, Scheduler
from bot.core.slack import Slack, make_client
from bot.core.slack_transport import connect_socket_mode, slack_events_route, tell_bolt_who_we_are
from bot.core.store import PREFIX, Redis, Store, connect
from bot.doctor import Setup, check_procedure_targets
from bot.drills import Drills
from bot.drills_scenarios import Scenario
from bot.escalations import Escalations
from bot.followups import FollowUps
from bot.incidents import Incidents
from bot.oncall import OnCall
from bot.paging import Pager
from bot.postmortem import Postmortems
from bot.preflight import Ready, verify
from bot.privacy import Privacy
from bot.reminders import Reminders
from bot.runbooks.checklists import Checklists
from bot.services import Services
from bot.stakeholders import Stakeholders
from bot.stats import Stats
from bot.timeline import TimelineCapture
from handlers.alerts import alertmanager_webhook

log = logging.getLogger(__name__)
MAX_WEBHOOK_BODY = 256 * 1024  # a PagerDuty v3 webhook is a few KB

ACTIVITY: web.AppKey[Activity] = web.AppKey("activity", Activity)
# Stops the background consumers (events, due items, alerts), letting what is under way
# finish; called before the site closes (finish_work) and again, harmlessly, at cleanup.
STOP_WORK: web.AppKey[Callable[[], Awaitable[None]]] = web.AppKey("stop_work")


def connect_redis(settings: Settings) -> Redis:
    return connect(
        settings.redis_url,
        timeout=settings.redis_timeout,
        sentinels=settings.redis_sentinels,
        master=settings.redis_sentinel_master,
    )


@dataclass
class Bot:
    services: Services
    bolt: AsyncApp
    web: web.Application


def make_pagerduty(
    settings: Settings, *, timeout: float = 5.0, errors: Counter | None = None
) -> PagerDuty | None:
    if not settings.pagerduty_api_key:
        return None
    return PagerDuty(
        settings.pagerduty_api_key,
        api_url=settings.pagerduty_api_url,
        events_url=settings.pagerduty_events_url,
        from_email=settings.pagerduty_from_email,
        timeout=timeout,
        errors=errors,
    )


def build(
    settings: Settings,
    config: IncidentConfig,
    *,
    redis: Redis | None = None,
    key_prefix: str = PREFIX,
    ready: Ready | None = None,
) -> Bot:
    """Wire every part, every key under `key_prefix` (the sandbox has its own). `ready`:
    what `preflight` loaded for `config`; without it, `verify` runs here. Raises SetupError
    for a set-up that must not start (a broken runbook, drill scenario, template...)."""
    if ready is None or ready.config is not config:
        ready = verify(config)
    runbooks = ready.runbooks
    redis = redis if redis is not None else connect_redis(settings)
    client = make_client(settings.slack_bot_token, settings.slack_api_url)
    store = Store(redis, prefix=key_prefix)
    metrics = Metrics()
    slack = Slack(client, errors=metrics.slack_errors)
    activity = Activity()
    services = Services(
        activity=activity,
        settings=settings,
        config=config,
        store=store,
        slack=slack,
        incidents=Incidents(store, slack, config, metrics=metrics),
        events=Events(
            store, claim_idle=config.scheduler.reclaim.total_seconds(), activity=activity
        ),
        metrics=metrics,
        runbooks=runbooks,
        pagerduty=make_pagerduty(settings, errors=metrics.pagerduty_errors),
        checklists=Checklists(store, slack, runbooks),
    )
    assert services.checklists is not None
    services.oncall = OnCall(
        store,
        slack,
        services.pagerduty,
        config.pagerduty,
        ttl=settings.oncall_cache_ttl,
        activity=activity,
    )
    services.oncall.schedule(services.jobs)
    services.privacy = Privacy(store, slack, services.incidents, config)
    services.policy = Policy(config, store, slack, services.privacy, metrics=metrics)
    scheduler, _, pager = wire_schedule(services)
    wire_after_incident(services, scheduler)
    wire_procedure(services, scheduler)
    alerts = services.alerts = Alerts(
        store,
        slack,
        services.incidents,
        config,
        runbooks,
        scheduler=scheduler,
        registry=metrics.registry,
        activity=activity,
    )
    wire_drills(services, scheduler, ready.scenarios)
    consistency = subscribe(services)
    bolt = AsyncApp(
        client=client,
        signing_secret=settings.slack_signing_secret or "",
        # /slack/events verifies every request on its raw bytes before Bolt sees it, and
        # Socket Mode's envelopes come over the WebSocket the app-level token opened
        request_verification_enabled=False,
    )
    handlers.register(bolt, services)
    bolt.listener_runner.listener_start_handler = _TrackListeners(activity)
    activity.probe(scheduler.outlook)
    activity.probe(alerts.outlook)
    activity.probe(services.events.outlook)
    activity.probe(consistency.outlook)
    # the due-item tick is seen by the scheduler's probe; its idle runs change nothing
    activity.track_jobs(services.jobs, ignore={JOB_ID})
    app = web.Application()
    app[ACTIVITY] = activity
    slack_events = slack_events_route(
        bolt, signing_secret=settings.slack_signing_secret, store=store
    )

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(_: web.Request) -> web.Response:
        # the reason names what is wrong, never where Redis is: anyone may ask
        try:
            await asyncio.wait_for(store.ping(), timeout=settings.redis_timeout + 0.5)
        except StoreUnavailable as exc:
            return web.json_response({"ok": False, "reason": f"redis: {exc.reason}"}, status=503)
        except TimeoutError:
            return web.json_response({"ok": False, "reason": "redis: timeout"}, status=503)
        if warning := services.incidents.identity.warning:
            # still serving: new incidents work; an operator must know what was lost
            return web.json_response({"ok": True, "warning": warning})
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

        def refuse(status: int, error: str, reason: str) -> web.Response:
            log.warning("PagerDuty webhook refused", extra={"reason": reason, "status": status})
            return web.json_response({"ok": False, "error": error}, status=status)

        # the signature covers the raw bytes: read them (capped), check, and only then parse
        signature = request.headers.get("X-PagerDuty-Signature")
        if not signature:
            return refuse(401, "no X-PagerDuty-Signature", "unsigned")
        body = await guard.read_body(request, MAX_WEBHOOK_BODY)
        if body is None:
            return refuse(413, f"the body is over {MAX_WEBHOOK_BODY // 1024} KB", "too_large")
        if not verify_webhook_signature(secret, body, signature):
            return refuse(401, "bad signature", "bad_signature")
        try:
            event = parse_webhook(body)
        except InvalidWebhook as exc:
            return refuse(400, str(exc), "malformed")
        try:
            await pager.on_webhook(event)
        except STORE_ERRORS as exc:
            # not handled: a non-2xx makes PagerDuty deliver it again
            log.warning("PagerDuty webhook not handled", extra={"event": event.id, "error": exc})
            return web.json_response({"ok": False, "error": "store unreachable"}, status=503)
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
        await services.events.start()
        await consistency.start()

    async def stop_schedule(_: web.Application) -> None:
        await consistency.stop()
        await services.events.stop()
        await scheduler.stop()

    app.on_startup.append(start_schedule)

    checking: list[Callable[[], None]] = []

    async def know_ourselves(_: web.Application) -> None:
        task = activity.spawn(tell_bolt_who_we_are(bolt, slack), name="auth.test at start-up")

        def cancel() -> None:
            task.cancel()

        checking.append(cancel)

    app.on_startup.append(know_ourselves)

    async def check_procedure(_: web.Application) -> None:
        # Not awaited: the start-up check of the procedure's Slack targets never delays
        # serving. on_startup runs before the site listens; the sandbox's fake Slack is
        # served by this very app, so it waits a moment instead of greeting a newcomer
        # with connection errors.
        checking.append(
            activity.later(STARTUP_CHECK_DELAY, lambda: warn_procedure_targets(services))
        )

    async def stop_check(_: web.Application) -> None:
        for cancel in checking:
            cancel()

    app.on_startup.append(check_procedure)
    app.on_cleanup.insert(0, stop_check)

    async def start_alerts(_: web.Application) -> None:
        await alerts.start()

    async def stop_alerts(_: web.Application) -> None:
        await alerts.stop()

    app.on_startup.append(start_alerts)

    async def start_activity(_: web.Application) -> None:
        activity.start()

    async def stop_activity(_: web.Application) -> None:
        activity.stop()

    app.on_startup.insert(0, start_activity)
    app.on_cleanup.append(stop_activity)
    # before Redis closes: the alert worker stops; what it had not acked is redelivered
    app.on_cleanup.insert(0, stop_alerts)
    # before Redis closes: running handlers finish (or keep their lease for a retry)
    app.on_cleanup.insert(0, stop_schedule)

    async def stop_work() -> None:
        await stop_schedule(app)
        await stop_alerts(app)

    app[STOP_WORK] = stop_work
    return Bot(services=services, bolt=bolt, web=app)


def subscribe(services: Services) -> Consistency:
    """What each feature does when an incident changes, in order (bot/core/events.py): those
    that only schedule come first, so a page never waits behind Slack set-up; then the
    set-up itself; then what needs the channel. And each feature's repair, for after Redis
    lost writes (bot/core/consistency.py)."""
    pager, reminders, escalations = services.pager, services.reminders, services.escalations
    stakeholders, postmortems, stats = services.stakeholders, services.postmortems, services.stats
    drills, checklists = services.drills, services.checklists
    assert pager and reminders and escalations and stakeholders and postmortems and stats
    assert drills and checklists
    ev = services.events
    ev.subscribe("pager", lifecycle(pager.on_incident_event))
    ev.subscribe("reminders", lifecycle(reminders.on_incident_event))
    ev.subscribe("escalations", lifecycle(escalations.on_incident_event))
    ev.subscribe("stakeholders", lifecycle(stakeholders.on_incident_event))
    ev.subscribe("postmortem", lifecycle(postmortems.on_incident_event))
    ev.subscribe("stats", lifecycle(stats.on_incident_event))
    ev.subscribe("setup", services.incidents.on_declared, types={"declared"})
    # these post into the channel: they see the incident as set up, not as declared
    fresh = services.store
    ev.subscribe("paging-notice", lifecycle(pager.on_set_up, fresh), types={"declared"})
    ev.subscribe("drills", lifecycle(drills.on_incident_event, fresh))
    ev.subscribe("checklists", lifecycle(checklists.on_incident_event, fresh), types={"declared"})
    ev.subscribe("runbook-escalations", escalations.on_runbook_posted, types={"runbook_posted"})
    identity = services.incidents.identity
    services.metrics.store_data_lost.set_function(lambda: 1.0 if identity.lost_at else 0.0)
    consistency = Consistency(services.store, identity, activity=services.activity)
    consistency.add("reminders", reminders.reconcile)
    consistency.add("pages", pager.reconcile)
    consistency.add("escalations", escalations.reconcile)
    consistency.add("stakeholders", stakeholders.reconcile)
    consistency.add("drills", drills.reconcile)
    return consistency


def wire_drills(services: Services, scheduler: Scheduler, scenarios: dict[str, Scenario]) -> Drills:
    """Game-day drills: the scenarios (shipped, then the team's own, checked by `verify`),
    played through the alert path and the scheduler."""
    drills = services.drills = Drills(
        services.store,
        services.slack,
        services.incidents,
        services.config,
        scenarios,
        services.runbooks,
        scheduler,
        alerts=services.alerts,
    )
    drills.install()
    return drills


def wire_procedure(services: Services, scheduler: Scheduler) -> tuple[Escalations, Stakeholders]:
    """The team's procedure from the config: the escalation matrix and runbook
    escalations, stakeholder update cadences."""
    escalations = services.escalations = Escalations(
        services.store,
        services.slack,
        services.config,
        scheduler,
        services.runbooks,
        services.pagerduty,
        identity=services.incidents.identity,
    )
    escalations.install()
    stakeholders = services.stakeholders = Stakeholders(
        services.store, services.slack, services.config, scheduler
    )
    stakeholders.install()
    return escalations, stakeholders


STARTUP_CHECK_DELAY = 1.0  # seconds after start-up before the procedure's targets are checked


async def warn_procedure_targets(services: Services) -> None:
    """Log a warning for each channel, user group or user the procedure names that Slack
    does not know (the doctor's checks for them, run once at start-up)."""
    setup = Setup(
        settings=services.settings,
        store=services.store,
        slack=services.slack,
        pagerduty=services.pagerduty,
        config=services.config,
    )
    try:
        results = await check_procedure_targets(setup)
    except Exception:
        log.exception("start-up check of the procedure's Slack targets failed")
        return
    for result in results:
        if result.status in ("fail", "warn"):
            log.warning(
                "procedure target problem: %s: %s (fix: %s)",
                result.name,
                result.detail,
                result.fix,
                extra={"check": result.name},
            )


def wire_after_incident(services: Services, scheduler: Scheduler) -> None:
    """Post-mortems, follow-ups, timeline capture and the response numbers."""
    store, slack, config, metrics = (
        services.store,
        services.slack,
        services.config,
        services.metrics,
    )
    stats = services.stats = Stats(store, slack, config, metrics)
    services.postmortems = Postmortems(store, slack, config, scheduler, stats, metrics)
    services.postmortems.install()
    services.followups = FollowUps(store, slack, config, scheduler, metrics)
    services.followups.install()
    services.capture = TimelineCapture(store, slack)


def wire_schedule(services: Services) -> tuple[Scheduler, Reminders, Pager]:
    """Durable due-items, and the features made of them: update reminders and paging."""
    timing = services.config.scheduler
    scheduler = Scheduler(
        services.store,
        tick=timing.tick.total_seconds(),
        lease=timing.lease.total_seconds(),
        retry=timing.retry.total_seconds(),
        registry=services.metrics.registry,
        activity=services.activity,
    )
    reminders = Reminders(
        services.store, services.slack, services.config, scheduler, metrics=services.metrics
    )
    reminders.install()
    pager = Pager(
        services.store,
        services.slack,
        services.config,
        scheduler,
        services.pagerduty,
        webhooks=bool(services.settings.pagerduty_webhook_secret),
        metrics=services.metrics,
        identity=services.incidents.identity,
    )
    pager.install()
    services.scheduler, services.reminders, services.pager = scheduler, reminders, pager
    return scheduler, reminders, pager


class CannotStart(Exception):
    """The bot cannot serve (its port, its Redis): one line for the operator."""


def redis_where(settings: Settings) -> str:
    """Where the bot looks for Redis, in words (the URL without its password)."""
    if settings.redis_sentinels:
        return (
            f"the Redis primary {settings.redis_sentinel_master!r} of the Sentinels at "
            f"{settings.redis_sentinels} (REDIS_SENTINELS)"
        )
    return f"the Redis at {redact_url(settings.redis_url)} (REDIS_URL)"


async def check_redis(store: Store, settings: Settings) -> None:
    """CannotStart unless the store answers: a bot that cannot keep a single incident
    should say so at once, not serve commands that all fail."""
    try:
        await asyncio.wait_for(store.ping(), timeout=3 * settings.redis_timeout + 1)
    except (StoreUnavailable, TimeoutError) as exc:
        cause = exc.__cause__ or exc
        raise CannotStart(
            f"{redis_where(settings)} does not answer ({cause or 'timeout'}); start it, or "
            "point REDIS_URL (or REDIS_SENTINELS) at one that runs."
        ) from None


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, taken before anything starts: a port in use stops the start
    before a job runs or a connection opens. OSError when it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=128)


def listen_problem(exc: OSError) -> str:
    return "it is already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)


async def serve(bot: Bot, settings: Settings) -> None:
    """Serve HTTP on $PORT; with SLACK_APP_TOKEN, Slack traffic comes over Socket Mode.
    CannotStart when the port cannot be had or Redis does not answer."""
    redis = bot.services.store.redis

    async def close_redis() -> None:
        await redis.aclose()
        await redis.connection_pool.disconnect()

    try:
        sock = listen(settings.host, settings.port)
    except OSError as exc:
        await close_redis()
        raise CannotStart(
            f"cannot listen on {settings.host}:{settings.port} ({listen_problem(exc)}); set "
            "PORT to a free port (and HOST to an address of this machine)."
        ) from None
    try:
        await check_redis(bot.services.store, settings)
    except CannotStart:
        sock.close()
        await close_redis()
        raise
    guard.raise_open_files_limit()
    guard.quiet_accept_errors(asyncio.get_running_loop())
    runner = guard.runner(bot.web, settings, registry=bot.services.metrics.registry)
    await runner.setup()
    site = web.SockSite(runner, sock)
    await site.start()
    socket_mode = None
    if settings.slack_app_token:
        socket_mode = await connect_socket_mode(bot.bolt, settings.slack_app_token)
        log.info("connected to Slack over Socket Mode")
    log.info("serving", extra={"port": settings.port, "host": settings.host})
    try:
        await until_stopped()
    finally:
        if socket_mode is not None:
            await socket_mode.close_async()
        await finish_work(bot.web)
        await runner.cleanup()


async def until_stopped() -> None:
    """Return on SIGINT or SIGTERM (Ctrl-C, or a deploy stopping the process)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def finish_work(app: web.Application, grace: float = 10.0) -> None:
    """At shutdown, while the site still serves: let work Slack was already told about
    (acked listeners still running) finish, then stop the background consumers, letting
    what they hold finish too. Before the site closes, because the sandbox's fake Slack
    and PagerDuty are served by this very app: a declare cut off from them would spend
    its retries on a closed port instead of finishing."""
    await app[ACTIVITY].drain(grace)
    await app[STOP_WORK]()


class _TrackListeners(AsyncListenerStartHandler):
    """Bolt runs each listener after ack() as a task of its own (slack_bolt's
    AsyncioListenerRunner); the task's first step calls this start handler, so the task
    counts as work from before Slack even reads the ack."""

    def __init__(self, activity: Activity) -> None:
        self.activity = activity

    async def handle(self, request: AsyncBoltRequest, response: BoltResponse | None) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.activity.track(task, hold_stop=True)

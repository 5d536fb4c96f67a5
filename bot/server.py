"""One aiohttp app serving every route; Slack's go through bot/core/slack_transport.py to Bolt.

`build()` wires the parts; `serve()` runs them until stopped, over HTTP or Socket Mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, fields

import aiohttp
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import Counter
from slack_bolt.async_app import AsyncApp
from slack_bolt.listener.async_listener_start_handler import AsyncListenerStartHandler
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

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
from bot.drills.scenarios import Scenario
from bot.escalations import Escalations
from bot.followups import FollowUps
from bot.home import Home
from bot.incidents import Incidents
from bot.oncall import OnCall
from bot.paging import Pager
from bot.postmortem import Postmortems
from bot.preflight import Ready, verify
from bot.privacy import Privacy
from bot.reminders import Reminders
from bot.runbooks.checklists import Checklists
from bot.services import Core, Services
from bot.shortcuts import Shortcuts
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
    redis = redis if redis is not None else connect_redis(settings)
    client = make_client(settings.slack_bot_token, settings.slack_api_url)
    core = make_core(settings, config, ready, Store(redis, prefix=key_prefix), client)
    services = make_services(core, ready.scenarios)
    consistency = subscribe(services)
    bolt = make_bolt(services, client)
    watch_activity(services, consistency)
    app = web.Application()
    app[ACTIVITY] = services.activity
    add_routes(app, services, bolt)
    run_with_app(app, services, consistency, bolt)
    return Bot(services=services, bolt=bolt, web=app)


def make_core(
    settings: Settings, config: IncidentConfig, ready: Ready, store: Store, client: AsyncWebClient
) -> Core:
    """The floor the features stand on: the clients, the incidents, the event stream and
    the durable due-items."""
    metrics = Metrics()
    slack = Slack(client, errors=metrics.slack_errors)
    activity = Activity()
    timing = config.scheduler
    return Core(
        settings=settings,
        config=config,
        store=store,
        slack=slack,
        metrics=metrics,
        activity=activity,
        jobs=AsyncIOScheduler(),
        runbooks=ready.runbooks,
        pagerduty=make_pagerduty(settings, errors=metrics.pagerduty_errors),
        incidents=Incidents(store, slack, config, metrics=metrics),
        events=Events(store, claim_idle=timing.reclaim.total_seconds(), activity=activity),
        scheduler=Scheduler(
            store,
            tick=timing.tick.total_seconds(),
            lease=timing.lease.total_seconds(),
            retry=timing.retry.total_seconds(),
            registry=metrics.registry,
            activity=activity,
        ),
    )


def make_services(core: Core, scenarios: dict[str, Scenario]) -> Services:
    """Every feature on `core`, each with its due-item kinds installed on the scheduler
    (drills: the scenarios `verify` checked, shipped then the team's own)."""
    store, slack, config, metrics = core.store, core.slack, core.config, core.metrics
    scheduler, identity, pagerduty = core.scheduler, core.incidents.identity, core.pagerduty
    oncall = OnCall(
        store,
        slack,
        pagerduty,
        config.pagerduty,
        ttl=core.settings.oncall_cache_ttl,
        activity=core.activity,
    )
    oncall.schedule(core.jobs)
    privacy = Privacy(store, slack, config, core.incidents)
    capture = TimelineCapture(store, slack)
    stats = Stats(store, slack, config, metrics)
    alerts = Alerts(
        store,
        slack,
        core.incidents,
        config,
        core.runbooks,
        scheduler=scheduler,
        registry=metrics.registry,
        activity=core.activity,
    )
    services = Services(
        **{part.name: getattr(core, part.name) for part in fields(core)},
        checklists=Checklists(store, slack, core.runbooks),
        oncall=oncall,
        privacy=privacy,
        policy=Policy(store, slack, config, privacy, metrics=metrics),
        reminders=Reminders(store, slack, config, scheduler, metrics=metrics),
        pager=Pager(
            store,
            slack,
            config,
            scheduler,
            pagerduty,
            webhooks=bool(core.settings.pagerduty_webhook_secret),
            metrics=metrics,
            identity=identity,
        ),
        stats=stats,
        postmortems=Postmortems(store, slack, config, scheduler, stats, metrics),
        followups=FollowUps(store, slack, config, scheduler, metrics),
        capture=capture,
        escalations=Escalations(
            store, slack, config, scheduler, core.runbooks, pagerduty, identity=identity
        ),
        stakeholders=Stakeholders(store, slack, config, scheduler),
        alerts=alerts,
        drills=Drills(
            store, slack, config, scheduler, core.incidents, scenarios, core.runbooks, alerts=alerts
        ),
        shortcuts=Shortcuts(slack, core.incidents, privacy, capture),
        home=Home(store, slack, config, scheduler, privacy, oncall),
    )
    services.reminders.install()
    services.pager.install()
    services.postmortems.install()
    services.followups.install()
    services.escalations.install()
    services.stakeholders.install()
    services.drills.install()
    services.home.install()
    return services


def make_bolt(services: Services, client: AsyncWebClient) -> AsyncApp:
    """Bolt with every listener; each runs after its ack as tracked work."""
    bolt = AsyncApp(
        client=client,
        signing_secret=services.settings.slack_signing_secret or "",
        # /slack/events verifies every request on its raw bytes before Bolt sees it, and
        # Socket Mode's envelopes come over the WebSocket the app-level token opened
        request_verification_enabled=False,
    )
    handlers.register(bolt, services)
    bolt.listener_runner.listener_start_handler = _TrackListeners(services.activity)
    return bolt


def watch_activity(services: Services, consistency: Consistency) -> None:
    """The settle signal's probes: each part that keeps timed work says when it is due."""
    activity = services.activity
    activity.probe(services.scheduler.outlook)
    activity.probe(services.alerts.outlook)
    activity.probe(services.events.outlook)
    activity.probe(consistency.outlook)
    # the due-item tick is seen by the scheduler's probe; its idle runs change nothing
    activity.track_jobs(services.jobs, ignore={JOB_ID})


def add_routes(app: web.Application, services: Services, bolt: AsyncApp) -> None:
    """Every route: Slack's, the health checks, metrics, and the two webhooks."""
    settings, store = services.settings, services.store

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

    secret, activity = settings.slack_signing_secret, services.activity
    slack_events = slack_events_route(bolt, signing_secret=secret, store=store, activity=activity)
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_route)
    app.router.add_post("/webhooks/pagerduty", pagerduty_webhook_route(services))
    app.router.add_post("/alerts/alertmanager", alertmanager_webhook(services))


def pagerduty_webhook_route(services: Services) -> Callable[[web.Request], Awaitable[web.Response]]:
    """`/webhooks/pagerduty`: signature checked on the raw bytes, then to the pager."""
    secret, pager = services.settings.pagerduty_webhook_secret, services.pager

    async def pagerduty_webhook(request: web.Request) -> web.Response:
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

    return pagerduty_webhook


Lifetime = Callable[[web.Application], AsyncIterator[None]]


def run_with_app(
    app: web.Application, services: Services, consistency: Consistency, bolt: AsyncApp
) -> None:
    """What runs while the app does (aiohttp's cleanup_ctx): each part below is started
    in turn at start-up and stopped in the reverse order at cleanup, so tracking outlives
    everything, and Redis and the Slack session outlive whatever uses them. The background
    consumers are also stopped earlier by `finish_work` (STOP_WORK), before the site
    closes; stopping them again at cleanup changes nothing."""
    activity, jobs, redis = services.activity, services.jobs, services.store.redis
    client = bolt.client

    async def tracking(_: web.Application) -> AsyncIterator[None]:
        activity.start()
        yield
        activity.stop()

    async def redis_connection(_: web.Application) -> AsyncIterator[None]:
        yield
        await close_redis(redis)

    async def slack_session(_: web.Application) -> AsyncIterator[None]:
        # one keep-alive session for every Slack call instead of a connection per call
        session = client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        yield
        await session.close()
        if services.pagerduty is not None:  # its threads, after whatever pages
            services.pagerduty.close()

    async def start_up_checks(_: web.Application) -> AsyncIterator[None]:
        knowing = activity.spawn(
            tell_bolt_who_we_are(bolt, services.slack), name="auth.test at start-up"
        )
        # Not awaited: the start-up check of the procedure's Slack targets never delays
        # serving. Start-up runs before the site listens; the sandbox's fake Slack is
        # served by this very app, so it waits a moment instead of greeting a newcomer
        # with connection errors.
        cancel_check = activity.later(STARTUP_CHECK_DELAY, lambda: warn_procedure_targets(services))
        yield
        knowing.cancel()
        cancel_check()

    async def stop_work() -> None:
        # running handlers finish (or keep their lease for a retry); the alert worker
        # stops, and what it had not acked is redelivered
        await consistency.stop()
        await services.events.stop()
        await services.scheduler.stop()
        await services.alerts.stop()

    async def background_consumers(_: web.Application) -> AsyncIterator[None]:
        services.scheduler.start(jobs)
        await services.events.start()
        await consistency.start()
        await services.alerts.start()
        yield
        await stop_work()

    async def periodic_jobs(_: web.Application) -> AsyncIterator[None]:
        jobs.start()
        yield
        if jobs.running:
            jobs.shutdown(wait=False)

    lifetimes: list[Lifetime] = [
        tracking,
        redis_connection,
        slack_session,
        start_up_checks,
        background_consumers,
        periodic_jobs,
    ]
    app.cleanup_ctx.extend(lifetimes)
    app[STOP_WORK] = stop_work


async def close_redis(redis: Redis) -> None:
    await redis.aclose()
    await redis.connection_pool.disconnect()


def subscribe(services: Services) -> Consistency:
    """What each feature does when an incident changes, in order (bot/core/events.py). Urgent
    first: the page request and the reminders (one due-item write; a page never waits behind
    Slack), the channel, the declarer told where it is. Then the rest of the set-up, those
    that only schedule, what needs the channel; and each feature's repair (consistency.py)."""
    pager, reminders, escalations = services.pager, services.reminders, services.escalations
    stakeholders, drills = services.stakeholders, services.drills
    ev = services.events
    # written with the declaration: the page asked for, the escalation matrix's run
    services.incidents.at_declare(pager.at_declare)
    services.incidents.at_declare(escalations.at_declare)
    ev.together = services.scheduler.together
    ev.subscribe("pager", pager.on_event, urgent=True, together=True)
    ev.subscribe("reminders", lifecycle(reminders.on_incident_event), urgent=True, together=True)
    ev.subscribe("setup", services.incidents.on_declared, types={"declared"}, urgent=True)
    ev.subscribe("setup-rest", services.incidents.on_declared_rest, types={"declared"})
    # they only schedule, at times the event says (not when they run)
    ev.subscribe("escalations", lifecycle(escalations.on_incident_event))
    ev.subscribe("stakeholders", lifecycle(stakeholders.on_incident_event))
    ev.subscribe("postmortem", lifecycle(services.postmortems.on_incident_event))
    ev.subscribe("stats", lifecycle(services.stats.on_incident_event))
    # these post into the channel: they see the incident as set up, not as declared
    set_up = services.incidents.after_set_up
    ev.subscribe("paging-notice", set_up(pager.on_set_up, redelivered=True), types={"declared"})
    ev.subscribe("drills", set_up(drills.on_incident_event))
    ev.subscribe("checklists", set_up(services.checklists.on_incident_event), types={"declared"})
    ev.subscribe("runbook-escalations", escalations.on_runbook_posted, types={"runbook_posted"})
    # last: a declared incident's Home row links the channel the set-up made
    ev.subscribe("home", services.home.on_incident_event)
    identity = services.incidents.identity
    services.metrics.store_data_lost.set_function(lambda: 1.0 if identity.lost_at else 0.0)
    consistency = Consistency(services.store, identity, activity=services.activity)
    consistency.add("reminders", reminders.reconcile)
    consistency.add("pages", pager.reconcile)
    consistency.add("escalations", escalations.reconcile)
    consistency.add("stakeholders", stakeholders.reconcile)
    consistency.add("drills", drills.reconcile)
    consistency.add("home", services.home.reconcile)
    return consistency


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
    try:
        sock = listen(settings.host, settings.port)
    except OSError as exc:
        await close_redis(redis)
        raise CannotStart(
            f"cannot listen on {settings.host}:{settings.port} ({listen_problem(exc)}); set "
            "PORT to a free port (and HOST to an address of this machine)."
        ) from None
    try:
        await check_redis(bot.services.store, settings)
    except CannotStart:
        sock.close()
        await close_redis(redis)
        raise
    with contextlib.suppress(*STORE_ERRORS):  # else each loads on its first call, as ever
        await bot.services.store.load_scripts()
    guard.raise_open_files_limit()
    guard.quiet_accept_errors(asyncio.get_running_loop())
    runner = guard.runner(bot.web, settings, registry=bot.services.metrics.registry)
    await runner.setup()
    site = web.SockSite(runner, sock)
    await site.start()
    # What start-up made (modules, models, the app) lives as long as the process: its
    # garbage collected once, the rest kept out of the collector's full passes, which
    # otherwise walk it all in the middle of a burst (50-100 ms, every request waiting)
    gc.collect()
    gc.freeze()
    socket_mode, token = None, settings.slack_app_token
    if token:
        socket_mode = await connect_socket_mode(bot.bolt, token, bot.services.activity)
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

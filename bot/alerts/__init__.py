"""Alerts: Prometheus Alertmanager's webhook and alert messages in Slack, made incidents.

Owns the way from an alert to an incident: admitting what arrives, persisting it before
answering, grouping alerts, and keeping each alert group's incident and Slack messages in
line with the group's alerts. Its parts, in bot/alerts/: intake.py (the webhook's payload),
slack.py (alert channels), shown.py and boards.py (Slack messages, kept by
bot/core/mirror.py), worker.py (the loops); and bot/core/store/alerts.py (Redis).

1. **Accept.** A webhook payload (or a message in an alert channel) is validated and
   turned into an `AlertBatch`, then XADDed to a Redis stream *before* the HTTP answer:
   a 200 means it is stored, so a crash right after loses nothing. A sender over
   `alerts.webhook_rate` gets 429 with Retry-After; groups beyond `groups_per_payload`
   are left out (rules' groups kept first) and counted.
2. **Apply.** A worker in every replica reads the stream through a consumer group and applies
   each group's alerts with one Lua script: an alert's status changes only for a later stream
   entry than the one that set it (redeliveries and reordering change nothing); a status change
   bumps the group's version and marks it due in its lane. The script keeps every bound
   (lua/alert_apply.lua): groups made a minute and remembered, alerts a group, resolved alerts
   dropped after the flap window.
3. **Reconcile.** Due groups are reconciled one at a time each (a Redis lease per group), on any
   replica, lane by lane: groups of rules whose severity pages, other rules' groups, then the
   rest. Declare the incident (rule matched, or `declare_unmatched`), add to it, reopen it, move
   it to monitoring when every alert resolved (and let the scheduler resolve it after
   `auto_resolve`), and keep ONE message per group current; unmatched groups share one digest
   message a window in the announce channel. The reconciler settles a group only if its version
   did not move meanwhile, else it runs again: no change is ever left unshown.

Grouping: an alert group is the alert name plus the values of the payload's group labels
(Alertmanager's `group_by`), which is exactly what the title of Alertmanager's Slack
notifications shows (`[FIRING:2] DatabaseDown db1`), so both ways in meet in one group.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry

import blocks.alerts as ui
import bot.alerts.claim as claim
from bot.alerts.boards import Boards
from bot.alerts.door import Door
from bot.alerts.intake import (
    AlertBatch,
    GroupUpdate,
    OverRate,
    QueueFull,
    cap_groups,
    parse_alertmanager,
)
from bot.alerts.metrics import AlertMetrics
from bot.alerts.shown import Later, SlackBudgets, group_view, keep
from bot.alerts.slack import AlertChannels
from bot.alerts.worker import Worker, outlook
from bot.core.activity import Activity, Outlook
from bot.core.config import AlertRule, IncidentConfig, format_duration
from bot.core.mirror import Mirror, Pacing, Part
from bot.core.models import AlertGroupView, DueItem, Incident, TimelineEntry
from bot.core.schedule import Retry, Scheduler
from bot.core.slack import Slack, SlackError
from bot.core.store import BOARD_MARK, Admit, AlertGroupState, GroupClass, Lane, Lease, Store
from bot.incidents import IncidentError, Incidents
from bot.runbooks.library import Runbook, RunbookError

__all__ = ["DRILL_LABEL", "Alerts", "OverRate", "QueueFull", "parse_alertmanager"]

log = logging.getLogger(__name__)

CHANNEL_WAIT = 0.25  # seconds before looking again for a just-declared incident's channel
SLACK_EVENT_TTL = 24 * 3600  # a Slack event id is remembered this long (retries: minutes)
QUIET_KIND = "alert_quiet"  # scheduler kind: resolve after the quiet period
LEASE = 60.0  # seconds a dead holder keeps a group's lease
# A game-day drill's synthetic alerts (bot/drills/) carry this label, valued with the
# drill's incident id, in their group labels: their group belongs to that incident.
DRILL_LABEL = "incident_drill"


class Alerts:
    """Accepts alerts, applies them to groups, and reconciles each group with Slack."""

    def __init__(
        self,
        store: Store,
        slack: Slack,
        incidents: Incidents,
        config: IncidentConfig,
        runbooks: Mapping[str, Runbook],
        *,
        scheduler: Scheduler | None = None,  # the auto-resolve timer
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
        budgets: SlackBudgets | None = None,
        activity: Activity | None = None,
    ) -> None:
        self.store = store
        self.slack = slack
        self.incidents = incidents
        self.activity = activity or Activity("alerts")
        self.config = config
        self.runbooks = runbooks
        self.settings = config.alerts
        self.scheduler = scheduler
        self.clock = clock
        self.budgets = budgets or SlackBudgets()
        self.metrics = AlertMetrics.on(registry or CollectorRegistry())
        self.rules: dict[str, AlertRule] = {}
        for i, rule in enumerate(config.alerts.rules):
            if rule.runbook and rule.runbook not in runbooks:
                known = ", ".join(sorted(runbooks)) or "none"
                raise RunbookError(
                    f"alerts.rules[{i}] ({rule.alertname}): no runbook {rule.runbook!r} "
                    f"(known: {known})"
                )
            self.rules.setdefault(rule.alertname.lower(), rule)
        # tuning, seconds; tests make them small
        self.poll = 0.5  # how often an idle worker looks at the stream (a local accept wakes it)
        self.claim_idle = 30.0  # an entry read but unacknowledged this long is taken over
        self.batch = 256  # stream entries read at once, at most (fewer when big: worker.py)
        self.concurrency = 16  # reconciles at once, in each lane
        self.consumer = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.wake_ingest = asyncio.Event()
        self.wake_reconcile = asyncio.Event()
        self.door = Door(store)
        self._worker: Worker | None = None
        self._bot_user: str | None = None
        self._bot_lock = asyncio.Lock()
        now = lambda: self.clock()  # noqa: E731 (tests move the service's clock)
        self.mirror = Mirror(store, slack, clock=now, lease=LEASE)
        self.boards = Boards(
            store, self.mirror, config, self.budgets, clock=now, ttl=lambda: self.retention
        )
        self.channels = AlertChannels(slack, self.settings, clock=now, rejected=self.rejected)
        if scheduler is not None:
            scheduler.on(QUIET_KIND, self._quiet_over)

    # -- rules ---------------------------------------------------------------------------
    def rule_for(self, alertname: str) -> AlertRule | None:
        return self.rules.get(alertname.lower())

    def rule_severity(self, rule: AlertRule | None) -> str | None:
        """The rule's severity as configured; the built-in rules' SEV4 falls back to the
        mildest severity when fewer are configured. None: the declare default."""
        if rule is None:
            unmatched = self.settings.unmatched_severity
            return self.config.resolve_severity(unmatched) if unmatched else None
        return self.config.resolve_severity(rule.severity) or self.config.severities[-1].name

    def lane(self, group: GroupUpdate) -> Lane:
        """Which lane the group is reconciled in: paging rules first, other rules (and
        drills, and unmatched groups that declare by themselves), then the rest."""
        if DRILL_LABEL in group.labels:
            return "rule"
        rule = self.rule_for(group.alertname)
        if rule is None:
            return "rule" if self.settings.declare_unmatched else "rest"
        severity = self.rule_severity(rule)
        return "page" if severity and self.config.severity(severity).page else "rule"

    def group_class(self, group: GroupUpdate) -> GroupClass:
        matched = self.rule_for(group.alertname) or DRILL_LABEL in group.labels
        return "rule" if matched else "unmatched"

    @property
    def retention(self) -> int:
        """How long an alert group is remembered after its last alert."""
        windows = self.settings.dedupe_window + self.settings.flap_window
        if self.settings.auto_resolve:
            windows += self.settings.auto_resolve
        return int(max(7 * 86400, 2 * windows.total_seconds()))

    # -- 1. accept -----------------------------------------------------------------------
    async def receive(self, batch: AlertBatch, *, sender: str | None = None) -> tuple[int, int]:
        """A webhook's batch: capped to `groups_per_payload` (the lowest lanes first), then
        booked on its `sender`'s `alerts.webhook_rate` and accepted, in one round trip:
        (alerts accepted, groups left out), or OverRate, or QueueFull. A payload with a
        paging rule's group is not counted: a noisy sender never holds its SEV1 back."""
        order = {"page": 0, "rule": 1, "rest": 2}
        lanes = {g.key: self.lane(g) for g in batch.groups}
        limit = self.settings.groups_per_payload
        kept, dropped = cap_groups(batch, limit, lambda g: order[lanes[g.key]])
        paging = [g for g in kept.groups if lanes[g.key] == "page"]
        if not await self.accept(kept, sender=None if "page" in lanes.values() else sender):
            # full: a paging rule's groups still get in, on an allowance as big; the
            # sender sends it all again (a 503), which changes nothing for them
            if paging:
                await self.accept(kept.model_copy(update={"groups": paging}), allowance=2)
            raise QueueFull
        if dropped:
            self.metrics.dropped.labels("payload").inc(dropped)
            await self.boards.dropped("payload", dropped)
        return kept.count, dropped

    async def accept(
        self,
        batch: AlertBatch,
        *,
        once: str | None = None,
        allowance: int = 1,
        sender: str | None = None,
    ) -> bool:
        """Persist a batch for the workers: True when stored, False when `once` was used or
        the stream holds `allowance` × `max_queued_mb` (`receive`); a `sender` books one
        use of its `alerts.webhook_rate` first (OverRate: nothing stored)."""
        body = batch.model_dump_json(exclude_defaults=True)
        most = allowance * self.settings.max_queued_mb * 1024 * 1024
        if once is not None:
            stored = await self.store.alerts_accept(
                body, max_bytes=most, once=once, ttl=SLACK_EVENT_TTL
            )
        else:  # with the other POSTs of this turn of the loop (bot/alerts/door.py)
            rate = self.settings.webhook_rate
            interval = rate.per.total_seconds() / rate.count
            admit = Admit(body, most, sender, interval, rate.count, self.clock())
            stored, wait = await self.door.admit(admit)
            if wait > 0:
                raise OverRate(wait)
        if stored is None:
            self.rejected("queue_full")
            return False
        if stored:
            self.metrics.received.labels(batch.source).inc(batch.count or 1)
            self.wake_ingest.set()
        return stored

    def rejected(self, reason: str) -> None:
        self.metrics.rejected.labels(reason).inc()

    async def on_slack_message(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None,
        own: Iterable[str] = (),
    ) -> bool:
        """A message event in an alert channel (see AlertChannels.batch), accepted once
        per Slack event. True when accepted."""
        found = await self.channels.batch(event, event_id=event_id, own=own)
        if found is None:
            return False
        batch, once = found
        return await self.accept(batch, once=once)

    # -- 2. apply: bot/alerts/worker.py -------------------------------------------------

    # -- 3. reconcile --------------------------------------------------------------------
    async def reconcile(self, gid: str) -> None:
        """Bring the group's incident and messages in line with its alerts (one replica
        at a time per group; another replica holding it will see any change)."""
        if gid.startswith(BOARD_MARK):
            await self.boards.reconcile(gid)
            return

        async def turn() -> bool:
            state = await self.store.alerts_group(gid)
            if state is None:
                await self.store.alerts_forget_due(gid)
                return True
            try:
                next_at = await self._reconcile_once(state)
            except Later as later:
                next_at = later.at
            return await self.store.alerts_settle(gid, state.text("version"), next_at, self.clock())

        await self.mirror.hold(Lease.ALERT_GROUP, gid, turn, turns=10)

    async def _reconcile_once(self, g: AlertGroupState) -> float | None:
        now = self.clock()
        flap = self.settings.flap_window.total_seconds()
        lane: Lane = g.text("lane") or "rule"  # type: ignore[assignment]
        if g.oldest_resolved is not None and g.oldest_resolved + flap <= now:
            # resolved long enough: forgotten (the settle sees the new version: again)
            await self.store.alerts_prune(g.gid, before=now - flap, now=now, lane=lane)
            return now
        view = group_view(g)
        incident = await self.store.get(g.text("incident")) if g.text("incident") else None
        firing, fired = int(g.number("firing")), int(g.number("fired"))
        if firing and fired > g.number("handled_fired"):
            incident = await self._firing(g, view, incident, now)
            await self.store.alerts_group_set(
                g.gid, handled_fired=fired, quiet_since="", quiet_told=""
            )
            g.fields.update(quiet_since="", quiet_told="")
            if incident is not None:
                g.fields["incident"] = incident.id
                view.incident = incident.id
        elif not firing and view.resolved and not g.text("quiet_told"):
            incident = await self._quiet(g, view, incident, now)
        later = [await self._show(g, view, incident, now)]
        if g.oldest_resolved is not None:
            later.append(g.oldest_resolved + flap)  # come back to forget them
        return min((t for t in later if t is not None), default=None)

    async def _firing(
        self, g: AlertGroupState, view: AlertGroupView, incident: Incident | None, now: float
    ) -> Incident | None:
        """New alerts fire: add to the open incident, reopen a recent one, or declare."""
        quiet = bool(g.text("quiet_told"))
        bot = await self.bot_user()
        if incident is not None and incident.is_open:
            if quiet:
                await self._post(incident, ui.firing_again(view))
                await self._note(incident, "alert", f"{view.title} firing again")
                if self.scheduler is not None:
                    await self.scheduler.cancel(incident.id, QUIET_KIND, key=g.gid)
                if incident.status == "monitoring":
                    incident = await self.incidents.set_status(
                        incident, by=bot, status="investigating"
                    )
            return incident
        if DRILL_LABEL in view.labels:
            return await self._drill_incident(g, view, incident)
        if incident is not None:
            within_flap = incident.resolved_at is not None and (
                now - incident.resolved_at <= self.settings.flap_window.total_seconds()
            )
            within_dedupe = now - g.number("declared_at") <= (
                self.settings.dedupe_window.total_seconds()
            )
            if within_flap or within_dedupe:
                self.metrics.actions.labels("reopened").inc()
                return await self.incidents.reopen(
                    incident, by=bot, reason=f"{view.title} is firing again"
                )
            # long over: this firing is a new episode, with its own incident and messages
            await self._forget_episode(g)
            view.incident = None
        rule = self.rule_for(view.alertname)
        if rule is None and not self.settings.declare_unmatched:
            return None
        # the declaration creates a channel and posts in the announce channel; severities
        # that page may use all of those budgets, the others leave them a reserve
        declare, post, reserved = self.budgets.declare, self.budgets.post, self.budgets.reserved
        if g.text("lane") != "page":
            declare, post = declare.without(reserved), post.without(reserved)
        announce = f"post:{self.config.announce_channel}"
        budgets = (("declare", declare), (announce, post))
        await self.mirror.pace(now, *budgets, max_wait=self.budgets.max_wait)
        runbook = rule.runbook if rule else None
        fill = claim.prefill(view, severity=self.rule_severity(rule), runbook=runbook)
        return await self._declare(g, view, fill, by=bot, roles={})

    async def _drill_incident(
        self, g: AlertGroupState, view: AlertGroupView, incident: Incident | None
    ) -> Incident | None:
        """A drill's alert attaches to its drill, open or over: it never declares, reopens
        or pages anything real."""
        if incident is None:
            found = await self.store.get(view.labels[DRILL_LABEL])
            if found is None or found.drill is None:
                log.warning("drill alert without its drill", extra={"group": g.gid})
                return None
            incident = found
            await self.store.alerts_group_set(g.gid, incident=incident.id)
        return incident

    async def _declare(
        self,
        g: AlertGroupState,
        view: AlertGroupView,
        fill: claim.Prefill,
        *,
        by: str,
        roles: dict[str, str] | None,
        private: bool | None = None,
        reply: Mapping[str, str] | None = None,
    ) -> Incident:
        key = g.text("declaring") or f"{g.gid}:{uuid.uuid4().hex}"
        if not g.text("declaring"):
            await self.store.alerts_group_set(g.gid, declaring=key)
        first = next((a for a in view.sample), None)
        incident = await self.incidents.declare(
            title=fill.title,
            severity=fill.severity,
            by=by,
            description=fill.description,
            source="alert",
            runbook=fill.runbook,
            alertname=view.alertname,
            roles=roles,
            key=key,
            private=private,
            labels={**(first.labels if first else {}), **view.labels},  # private.labels
            reply=reply,
        )
        now = self.clock()
        fields: dict[str, str | float] = dict(incident=incident.id, declared_at=now, declaring="")
        fields.update(msg_channel="", msg_ts="", msg_digest="", msg_at="")
        fields["thread"] = claim.thread_field(claim.posted_at(view))  # told once it is set up
        await self.store.alerts_group_set(g.gid, **fields)
        g.fields.update({k: str(v) for k, v in fields.items()})
        self.metrics.actions.labels("declared").inc()
        return incident

    async def _forget_episode(self, g: AlertGroupState) -> None:
        """A new episode: the group's incident and message are the last one's no more."""
        fields = {f"msg_{f}": "" for f in ("channel", "ts", "digest", "at", "state")}
        fields.update(incident="", declared_at="")
        await self.store.alerts_group_set(g.gid, **fields)
        g.fields.update(fields)

    async def _quiet(
        self, g: AlertGroupState, view: AlertGroupView, incident: Incident | None, now: float
    ) -> Incident | None:
        """Every alert of the group resolved: tell the channel, move to monitoring, and
        let the scheduler resolve it after the quiet period (if configured)."""
        if incident is not None and incident.is_open:
            bot = await self.bot_user()
            auto = self.settings.auto_resolve
            auto_at = now + auto.total_seconds() if auto else None
            await self._post(
                incident, ui.alerts_resolved(incident, view, at=now, auto_resolve_at=auto_at)
            )
            await self._note(incident, "alert", f"All alerts of {view.title} resolved")
            if incident.status != "monitoring":
                incident = await self.incidents.set_status(incident, by=bot, status="monitoring")
            self.metrics.actions.labels("monitoring").inc()
            if auto_at is not None and self.scheduler is not None:
                await self.scheduler.schedule(
                    QUIET_KIND,
                    incident.id,
                    auto_at,
                    key=g.gid,
                    payload={"group": g.gid, "since": now},
                    generation=incident.generation,
                )
        await self.store.alerts_group_set(g.gid, quiet_since=now, quiet_told=1)
        g.fields.update(quiet_since=str(now), quiet_told="1")
        return incident

    async def _quiet_over(self, item: DueItem) -> None:
        """Scheduler handler: the quiet period passed; resolve if nothing fired since."""
        gid = str(item.payload.get("group", ""))
        async with self.store.held(Lease.ALERT_GROUP, gid, ttl=LEASE) as mine:
            if not mine:
                raise Retry("the alert group is being reconciled", after=1.0)
            g = await self.store.alerts_group(gid)
            incident = await self.store.get(item.incident_id)
            if (
                g is None
                or incident is None
                or not incident.is_open
                or incident.status != "monitoring"
                or g.text("incident") != incident.id
                or g.number("firing") > 0
                or g.number("quiet_since") != float(item.payload.get("since", -1))
            ):
                return
            quiet = format_duration(self.settings.auto_resolve or self.settings.flap_window)
            title = group_view(g).title
            await self.incidents.resolve(
                incident,
                by=await self.bot_user(),
                summary=f"All alerts of {title} stayed resolved for {quiet}; resolved by the bot.",
            )
            self.metrics.actions.labels("resolved").inc()

    # -- the messages ----------------------------------------------------------------------
    async def _show(
        self, g: AlertGroupState, view: AlertGroupView, incident: Incident | None, now: float
    ) -> float | None:
        """Keep the group's message in its incident channel, and show an unmatched group
        in the digest (a member that was declared too); when an edit must wait, when to
        come back."""
        later = None
        if incident is not None and g.text("incident") == incident.id:
            # after the card: the incident channel's first message is the one to claim it on
            carded = "card" in incident.setup_done or "card" in incident.setup_errors
            if incident.channel_id and carded:
                later = await self._keep_message(g, incident.channel_id, view, now)
                if g.text("thread") and await claim.reply_in_thread(
                    self.store, self.slack, self.config, incident, g.text("thread")
                ):
                    await self.store.alerts_group_set(g.gid, thread="")
            elif "channel" not in incident.setup_errors:
                later = now + CHANNEL_WAIT  # the set-up is making the channel and card
        unmatched = incident is None and not g.text("incident")
        digest = g.text("digest") or (unmatched and DRILL_LABEL not in view.labels)
        if digest and await self.boards.show_unmatched(g, view, now):
            self.metrics.actions.labels("unmatched").inc()
        return later

    async def _keep_message(
        self, g: AlertGroupState, channel: str, view: AlertGroupView, now: float
    ) -> float | None:
        async def save(done: dict[str, str]) -> None:
            # until the next edit may go, alerts that only change counts can wait
            done["hold_until"] = repr(now + self.settings.update_every.total_seconds())
            await self.store.alerts_group_set(g.gid, **done)
            g.fields.update(done)

        pacing = Pacing(
            post=(f"post:{channel}", self.budgets.post),
            update=("update", self.budgets.update),
            every=self.settings.update_every.total_seconds(),
            max_wait=self.budgets.max_wait,
        )
        state = "firing" if view.firing else "resolved"
        part = Part("msg", channel, ui.alert_group(view), state, repost=True, pacing=pacing)
        return await keep(self.mirror, g.fields, "msg", part, now, save)

    async def _post(self, incident: Incident, message: ui.Message) -> None:
        await self.slack.notice(
            incident.channel_id, message, what="alert notice", incident=incident.id
        )

    async def _note(self, incident: Incident, kind: str, text: str) -> None:
        entry = TimelineEntry(at=self.clock(), actor=None, kind=kind, text=text)
        await self.store.append(incident.id, entry)

    async def bot_user(self) -> str:
        """The bot's own Slack user: who declares and changes incidents for alerts."""
        async with self._bot_lock:  # one auth.test, however many groups ask at once
            if self._bot_user is None:
                try:
                    self._bot_user = str((await self.slack.auth_test()).get("user_id") or "")
                except SlackError:
                    return ""
        return self._bot_user

    # -- buttons -------------------------------------------------------------------------
    async def _group(self, gid: str) -> tuple[AlertGroupState, AlertGroupView, Incident | None]:
        """A button's group, as shown, and its open incident (IncidentError: none such)."""
        g = await self.store.alerts_group(gid) if gid else None
        if g is None:
            raise IncidentError("That alert is no longer known; declare with /incident declare.")
        current = await self.store.get(g.text("incident")) if g.text("incident") else None
        return g, group_view(g), current if current is not None and current.is_open else None

    async def declare_form(self, gid: str) -> tuple[AlertGroupView, claim.Prefill, Incident | None]:
        """The unmatched alert's Declare incident form, filled in (bot/alerts/claim.py), and
        the group's open incident when it has one already."""
        _, view, current = await self._group(gid)
        return view, claim.suggested(view, self, self.rule_severity(None)), current

    async def declare_from_button(
        self,
        gid: str,
        *,
        user: str,
        fill: claim.Prefill,
        private: bool | None = None,
        roles: dict[str, str] | None = None,
        reply: Mapping[str, str] | None = None,
    ) -> tuple[Incident, AlertGroupView, bool]:
        """Declare incident on an unmatched alert (its button, or its choice in the
        digest), as its form says: the user declares it, and commands it unless the form
        left `roles` empty (None: the declarer commands). Of two at once, or
        one after the group has an open incident, the later gets that incident and False."""
        # the reconciler may hold the group for a moment
        async with self.store.held(Lease.ALERT_GROUP, gid, ttl=LEASE, wait=5.0) as mine:
            if not mine:
                raise IncidentError("That alert is being updated; try again in a moment.")
            g, view, current = await self._group(gid)
            if current is not None:
                return current, view, False
            incident = await self._declare(
                g, view, fill, by=user, roles=roles, private=private, reply=reply
            )
            await self.store.alerts_group_set(g.gid, handled_fired=int(g.number("fired")))
            lane: Lane = g.text("lane") or "rest"  # type: ignore[assignment]
            await self.store.alerts_mark_due(gid, self.clock(), lane)
            self.wake_reconcile.set()
            return incident, view, True

    async def resolve_from_button(self, incident_id: str, *, user: str) -> Incident:
        incident = await self.store.get(incident_id)
        if incident is None:
            raise IncidentError(f"No incident {incident_id}.")
        if not incident.is_open:
            raise IncidentError(f"Incident {incident.id} is already resolved.")
        return await self.incidents.resolve(incident, by=user, summary="")

    # -- running ---------------------------------------------------------------------------
    async def start(self) -> None:
        if self._worker is None:
            self._worker = Worker(self)
            self._worker.start()

    async def stop(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.stop()

    async def settled(self) -> bool:
        """Nothing accepted is left unapplied and no group waits for its reconciler
        (tests and the bench wait on this)."""
        return not (await self.outlook()).busy

    async def outlook(self) -> Outlook:
        """The settle probe (bot/core/activity.py); see Worker.outlook."""
        if self._worker is not None:
            return await self._worker.outlook()
        return await outlook(self)

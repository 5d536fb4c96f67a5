"""Post-mortems: the Markdown draft, its upload into the incident channel, its completion,
and the reminder until it is done.

Owns `PostmortemState` (drafts so far, done by whom and when) and three due-item kinds of
bot/core/schedule.py:

- `postmortem_draft`: when an incident resolves (and `postmortem.draft_on_resolve`), a
  draft is rendered and uploaded at once; durable, so a crash or a Slack outage delays it
  instead of losing it.
- `postmortem_due`: for paging severities, `postmortem.due_after` after the resolution the
  commander is reminded in the channel if the post-mortem is not marked done, then every
  `postmortem.remind_every` until it is (or the incident reopens).

The draft is rendered from a jinja2 template (bot/templates/postmortem.md.j2, or the
team's `postmortem.template`, which may extend "builtin/postmortem.md.j2") on every
request, so it always shows the latest timeline. Template variables:

    incident (Incident), severity ("SEV1 (Critical)"), status, declared, resolved (UTC
    "YYYY-MM-DD HH:MM:SS", resolved None while open), declared_by, duration,
    time_to_acknowledge (text), ack_source ("pagerduty"/"human"/None), roles ([{title,
    name}]), channel, pagerduty (text or None), timeline ([{utc, since, who, kind, text}]),
    followups ([{number, text, owner, due, status}]), done (text or None), generated

People are written `@name` (users.info, cached); Slack markup in timeline text becomes
plain Markdown. Filters: `cell` (safe inside a Markdown table cell), `duration`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cachetools import TTLCache

import blocks.postmortem as ui
from blocks.common import mention
from blocks.mrkdwn import md, readable
from blocks.stats import duration, offset
from bot.core import redaction
from bot.core.feature import Scheduled
from bot.core.metrics import Metrics
from bot.core.models import DueItem, FollowUp, Incident, PostmortemState, TimelineEntry
from bot.core.schedule import Retry
from bot.core.slack import SlackError, is_transient
from bot.incidents import IncidentError
from bot.stats import Stats

if TYPE_CHECKING:
    import jinja2

log = logging.getLogger(__name__)

DRAFT = "postmortem_draft"
DUE = "postmortem_due"
BUILTIN_DIR = Path(__file__).parent / "templates"
BUILTIN_NAME = "postmortem.md.j2"
NAME_TTL = 3600.0
NAMES_CACHED = 10_000

_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def cell(value: Any) -> str:
    """Text safe inside one Markdown table cell: pipes escaped, lines joined."""
    text = "" if value is None else str(value)
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return "<br>".join(line.strip() for line in text.strip().splitlines()) or " "


def plain_markdown(text: str, names: dict[str, str]) -> str:
    """Slack markup (mentions, channel links, date tokens, links) as plain Markdown."""
    return readable(text, users=names, links=_markdown_link)


def _markdown_link(url: str, label: str) -> str:
    return f"[{label}]({url})" if label else url


def template_environment(custom: Path | None) -> jinja2.Environment:
    """The shipped template is `builtin/postmortem.md.j2`; a team's own file is found by
    its name, next to its siblings (so it can include its own partials). jinja2 is
    imported here, at the first draft, not at start-up (about 2 MiB of an idle bot's RSS)."""
    import jinja2

    loaders: list[jinja2.BaseLoader] = [
        jinja2.PrefixLoader({"builtin": jinja2.FileSystemLoader(str(BUILTIN_DIR))})
    ]
    if custom is not None:
        loaders.append(jinja2.FileSystemLoader(str(custom.resolve().parent)))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=False,  # Markdown, not HTML; `cell` makes table cells safe
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["cell"] = cell
    env.filters["duration"] = duration
    return env


@dataclass(frozen=True)
class Draft:
    incident: Incident
    markdown: str
    filename: str
    title: str


@dataclass(eq=False)
class Postmortems(Scheduled):
    stats: Stats
    metrics: Metrics

    def __post_init__(self) -> None:
        custom = self.config.postmortem.template
        self.template_name = custom.name if custom is not None else f"builtin/{BUILTIN_NAME}"
        self._names: TTLCache[str, str] = TTLCache(
            maxsize=NAMES_CACHED, ttl=NAME_TTL, timer=self.clock
        )

    @functools.cached_property
    def env(self) -> jinja2.Environment:
        return template_environment(self.config.postmortem.template)

    def install(self) -> None:
        self.scheduler.on(DRAFT, self._draft_due)
        self.scheduler.on(DUE, self._reminder_due)

    # -- lifecycle events ---------------------------------------------------------------------
    async def on_incident_event(self, event: str, incident: Incident) -> None:
        if event == "resolved":
            now = self.clock()
            if self.config.postmortem.draft_on_resolve:
                await self.scheduler.schedule(
                    DRAFT, incident.id, now, generation=incident.generation
                )
            paging = self._pages(incident.severity) and incident.drill is None
            if paging and incident.resolved_at is not None:
                due_at = incident.resolved_at + self.config.postmortem.due_after.total_seconds()
                await self.scheduler.schedule(
                    DUE, incident.id, due_at, generation=incident.generation
                )
        elif event == "reopened":
            for kind in (DRAFT, DUE):
                await self.scheduler.cancel(incident.id, kind, generation=incident.generation)

    def _pages(self, severity: str) -> bool:
        try:
            return self.config.severity(severity).page
        except KeyError:
            return False

    # -- the draft ----------------------------------------------------------------------------
    async def render(self, incident: Incident) -> Draft:
        """The post-mortem of the incident as it stands now."""
        entries, followups, state, times = await asyncio.gather(
            self.store.timeline(incident.id),
            self.store.followups(incident.id),
            self.store.postmortem(incident.id),
            self.stats.incident_times(incident),
        )
        names = await self._names_for(incident, entries, followups)

        def who(user: str | None) -> str:
            return names.get(user, f"@{user}") if user else "—"

        ordered = sorted(entries, key=lambda e: e.at)  # pins come in late with their own time
        rows = [
            {
                "utc": utc(e.at),
                "since": offset(e.at - incident.declared_at),
                "who": who(e.actor) if e.actor else "bot",
                "kind": e.kind,
                "text": plain_markdown(e.text, names),
            }
            for e in ordered
        ]
        severity = incident.severity
        with contextlib.suppress(KeyError):
            severity = f"{severity} ({self.config.severity(severity).label})"
        resolved = incident.resolved_at if not incident.is_open else None
        if resolved is not None:
            span = duration(resolved - incident.declared_at)
        else:
            span = f"ongoing ({duration(self.clock() - incident.declared_at)} so far)"
        ack = duration(times.time_to_acknowledge)
        if times.ack_source == "pagerduty":
            ack += " (PagerDuty acknowledgement)"
        elif times.ack_source == "human":
            ack += " (first response on the timeline)"
        roles = [
            {"title": r.replace("_", " ").title(), "name": who(incident.roles.get(r))}
            for r in self.config.roles
        ]
        page = incident.page
        pagerduty = None
        if page is not None and page.pd_incident_id:
            number = f"#{page.pd_number}" if page.pd_number else page.pd_incident_id
            service = f" ({page.service})" if page.service else ""
            pagerduty = f"{number}{service}, {page.status}, level {page.level}"
        done = None
        if state.done_at is not None:
            done = f"{utc(state.done_at)} UTC by {who(state.done_by)}"
        context = {
            "incident": incident,
            "severity": severity,
            "status": incident.status.title(),
            "declared": utc(incident.declared_at),
            "resolved": utc(resolved) if resolved is not None else None,
            "declared_by": who(incident.declared_by),
            "duration": span,
            "time_to_acknowledge": ack,
            "ack_source": times.ack_source,
            "roles": roles,
            "channel": f"#{incident.channel_name}" if incident.channel_name else "—",
            "pagerduty": pagerduty,
            "timeline": rows,
            "followups": [
                {
                    "number": f.number,
                    "text": plain_markdown(f.text, names),
                    "owner": who(f.owner) if f.owner else "unassigned",
                    "due": f.due or "—",
                    "status": "done" if f.status == "done" else "open",
                }
                for f in followups
            ],
            "done": done,
            "generated": utc(self.clock()),
        }
        import jinja2  # loaded by `env` already

        try:
            markdown = self.env.get_template(self.template_name).render(context)
        except jinja2.TemplateError as exc:
            log.warning("post-mortem template failed", extra={"incident": incident.id})
            raise IncidentError(
                f"The post-mortem template failed: {exc}. Fix `postmortem.template`."
            ) from exc
        return Draft(
            incident=incident,
            markdown=markdown,
            filename=f"postmortem-{incident.id}.md",
            title=f"Post-mortem draft · {incident.id} · {incident.title}",
        )

    async def draft(self, incident: Incident, *, by: str | None, token: str | None = None) -> str:
        """Render and upload the draft into the incident channel, followed by its buttons;
        returns the file id. SlackError when Slack refuses the upload."""
        if not incident.channel_id:
            raise IncidentError("The incident has no channel yet; retry its set-up first.")
        rendered = await self.render(incident)
        comment = ui.draft_comment(incident, by=by)
        where = redaction.upload_channel(incident)  # a private incident's: its channel only
        assert where is not None
        file_id = await self.slack.upload_file(
            where,
            rendered.markdown,
            filename=rendered.filename,
            title=rendered.title,
            initial_comment=comment,
        )
        now = self.clock()

        def record(state: PostmortemState) -> bool:
            state.drafts += 1
            state.last_draft_at, state.last_file_id = now, file_id
            if token:
                state.auto_token = token
            return True

        state, _ = await self.store.change_postmortem(incident.id, record)
        self.metrics.postmortems.inc()
        text, blocks = ui.draft_posted(incident, state)
        try:
            await self.slack.post(incident.channel_id, text, blocks)
        except SlackError as exc:
            # the draft itself is shared; `/incident postmortem done` still works
            log.warning(
                "post-mortem buttons not posted", extra={"incident": incident.id, "error": exc.code}
            )
        return file_id

    async def mark_done(self, incident_id: str, *, by: str) -> PostmortemState:
        """Record the post-mortem as done (once) and stop its reminders."""
        incident = await self.store.get(incident_id)
        if incident is None:
            raise IncidentError(f"No incident {incident_id}.")
        if incident.is_open:
            raise IncidentError(
                "The incident is still open: resolve it first, then finish the post-mortem."
            )
        now = self.clock()

        def done(state: PostmortemState) -> TimelineEntry | None:
            if state.done_at is not None:
                return None
            state.done_at, state.done_by = now, by
            return TimelineEntry(at=now, actor=by, kind="postmortem", text="Post-mortem done")

        state, changed = await self.store.change_postmortem(incident.id, done)
        if not changed:
            when = utc(state.done_at or now)
            who = mention(state.done_by)
            raise IncidentError(
                md("The post-mortem was already marked done by {} ({} UTC).", who, when)
            )
        await self.scheduler.cancel(incident.id, DUE)
        await self.slack.notice(
            incident.channel_id,
            ui.marked_done(by),
            what="post-mortem done notice",
            incident=incident.id,
        )
        return state

    # -- due-items ----------------------------------------------------------------------------
    async def _draft_due(self, item: DueItem) -> None:
        incident = await self.store.get(item.incident_id)
        if incident is None or incident.is_open or not incident.channel_id:
            return
        if item.attempts > 1:
            state = await self.store.postmortem(incident.id)
            if state.auto_token == item.token:
                return  # uploaded before a crash; the draft is there
        try:
            await self.draft(incident, by=None, token=item.token)
        except SlackError as exc:
            if is_transient(exc):
                raise Retry(f"Slack: {exc.code}") from exc
            log.warning("post-mortem draft not uploaded", extra={"incident": incident.id})

    async def _reminder_due(self, item: DueItem) -> None:
        incident = await self.store.get(item.incident_id)
        if incident is None or incident.is_open or not incident.channel_id:
            return
        state = await self.store.postmortem(incident.id)
        if state.done_at is not None:
            return
        since = incident.resolved_at or item.due_at
        text, blocks = ui.reminder(incident, overdue_for=self.clock() - since)
        marker = f"due:{item.token}"
        maybe = item.first_claimed_at if item.attempts > 1 else None
        try:
            await self.slack.post_once(
                incident.channel_id, text, blocks, marker=marker, maybe_sent_since=maybe
            )
        except SlackError as exc:
            if is_transient(exc):
                raise Retry(f"Slack: {exc.code}") from exc
            log.warning("post-mortem reminder not posted", extra={"incident": incident.id})
            return
        self.metrics.reminders_sent.labels("postmortem").inc()
        await self.scheduler.schedule(
            DUE,
            incident.id,
            item.due_at + self.config.postmortem.remind_every.total_seconds(),
            generation=item.generation,
        )

    # -- names ----------------------------------------------------------------------------
    async def _names_for(
        self, incident: Incident, entries: Iterable[TimelineEntry], followups: list[FollowUp]
    ) -> dict[str, str]:
        users = {incident.declared_by, *incident.roles.values()}
        for e in entries:
            users.add(e.actor or "")
            users.update(_USER.findall(e.text))
        for f in followups:
            users.add(f.owner or "")
            users.update(_USER.findall(f.text))
        wanted = sorted(u for u in users if u)
        found = await asyncio.gather(*(self._name(u) for u in wanted))
        return dict(zip(wanted, found, strict=True))

    async def _name(self, user: str) -> str:
        cached = self._names.get(user)
        if cached:
            return cached
        try:
            info = await self.slack.user_info(user)
        except SlackError:
            return f"@{user}"  # the draft goes out anyway; IDs are still searchable
        profile = info.get("profile") or {}
        name = profile.get("display_name") or info.get("name") or profile.get("real_name")
        text = f"@{name}" if name else f"@{user}"
        self._names[user] = text
        return text

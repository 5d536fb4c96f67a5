"""Stakeholder updates: who must hear about an incident, how often, and in what words.

Owns `Incident.stakeholder_sent` (when each audience last got an update) and the due-item
kind `stakeholder_due` of bot/core/schedule.py, one lane per audience ("stakeholders:<key>"):

- Declaring (or changing severity, or reopening) starts each audience of the severity's
  cadence: its first update is due `first` (default `every`) after that moment. When one
  comes due, the audience's owner (its `owner:` role, else the comms lead, else the
  commander) is reminded in the incident channel with a **Draft update** button; the
  reminder comes again every `every` until an update is sent.
- Sending an update (the draft modal) posts it to the audience's channel (or DMs each
  member of its user group, or its user), records it on the timeline, and restarts that
  audience's cadence from then; the new generation drops the pending reminder.
- Resolving stops the cadences and reminds once per audience that got an update to send
  the final one.

Drafts are jinja2 templates (`<templates_dir>/stakeholders/<name>.j2`, falling back to
the shipped bot/templates/stakeholders/) rendered with the incident's facts and its latest
status update. A template that fails to render yields the latest update as the draft and
says why; `python -m bot check-config` renders each one against a sample incident first.
"""

from __future__ import annotations

import functools
import logging
import re
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import blocks.mrkdwn as mk
import blocks.stakeholders as ui
from blocks.incident import role_title
from blocks.mrkdwn import md
from bot.core import redaction
from bot.core.config import IncidentConfig, StakeholderAudience, target_kind, template_dirs
from bot.core.durations import format_duration
from bot.core.feature import Scheduled
from bot.core.models import DueItem, Incident, StatusUpdate, TimelineEntry
from bot.core.schedule import Retry, post_for_item
from bot.core.slack import SlackError
from bot.core.store import Lease
from bot.incidents import IncidentError

if TYPE_CHECKING:
    import jinja2

log = logging.getLogger(__name__)

DUE = "stakeholder_due"
LANE_PREFIX = "stakeholders:"

# the update modal's fields (blocks/reminders.py UPDATE_FIELDS), as template variables
_UPDATE_FIELD = re.compile(r"^\*(Impact|Current actions|Next steps|ETA):\*\s*(.*)$", re.MULTILINE)
_FIELD_NAMES = {
    "Impact": "impact",
    "Current actions": "actions",
    "Next steps": "next",
    "ETA": "eta",
}


# -- drafts ---------------------------------------------------------------------------------


def _utc(epoch: float | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime(fmt) if epoch else ""


def _public(title: str) -> str:
    """A title inside a sentence: `checkout API returning 500s` (acronyms kept)."""
    if len(title) > 1 and title[0].isupper() and not title[1].isupper():
        return title[0].lower() + title[1:]
    return title


def update_fields(update: StatusUpdate | None) -> dict[str, Any] | None:
    """The latest status update as template variables: text, summary, impact, actions,
    next, eta (from the update modal's labelled lines), status, at, by."""
    if update is None:
        return None
    fields = {
        _FIELD_NAMES[m.group(1)]: m.group(2).strip() for m in _UPDATE_FIELD.finditer(update.text)
    }
    if fields:
        summary = "; ".join(
            f"{label}: {fields[name]}" for label, name in _FIELD_NAMES.items() if fields.get(name)
        )
    else:
        summary = " ".join(update.text.split())
    return {
        "text": update.text,
        "summary": summary,
        "impact": fields.get("impact", ""),
        "actions": fields.get("actions", ""),
        "next": fields.get("next", ""),
        "eta": fields.get("eta", ""),
        "status": update.status,
        "at": _utc(update.at, "%H:%M UTC"),
        "by": f"<@{update.by}>",
    }


def draft_context(
    incident: Incident, audience: StakeholderAudience, config: IncidentConfig, *, now: float
) -> dict[str, Any]:
    """What a stakeholder template sees (docs/procedure.md lists it)."""
    try:
        label = config.severity(incident.severity).label
    except KeyError:
        label = incident.severity
    end = incident.resolved_at or now
    roles = {role: f"<@{uid}>" for role, uid in incident.roles.items()}
    team = ", ".join(f"{role_title(r).lower()} {m}" for r, m in roles.items()) or "being assembled"
    every = audience.every.total_seconds()
    return {
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "public_title": _public(incident.title),
            "severity": incident.severity,
            "severity_label": label,
            "status": incident.status,
            "status_title": incident.status.title(),
            "description": incident.description,
            "declared": _utc(incident.declared_at),
            "resolved": _utc(incident.resolved_at),
            "resolution": incident.resolution or "",
            "duration": format_duration(max(0.0, end - incident.declared_at)),
            "commander": roles.get("commander", "unassigned"),
            "roles": roles,
            "team": team,
            "channel": f"<#{incident.channel_id}>" if incident.channel_id else "",
            "channel_name": incident.channel_name,
            "runbook": incident.runbook or "",
        },
        "update": update_fields(incident.last_update),
        "audience": {
            "name": audience.audience,
            "channel": audience.channel,
            "every": format_duration(every),
        },
        "now": _utc(now),
        "next_update": _utc(now + every, "%H:%M UTC"),
    }


class Drafts:
    """The stakeholder templates of a config, rendered with an incident's facts."""

    def __init__(self, config: IncidentConfig, *, strict: bool = False) -> None:
        self.config = config
        self.strict = strict

    @functools.cached_property
    def env(self) -> jinja2.Environment:
        """Made at the first draft, and jinja2 imported then (about 2 MiB of an idle bot's
        RSS, and 20 ms once): most processes never draft a stakeholder update."""
        import jinja2

        return jinja2.Environment(
            loader=jinja2.FileSystemLoader(
                [str(d) for d in template_dirs(self.config.templates_dir)]
            ),
            autoescape=False,  # Slack mrkdwn and plain text, edited by a person before sending
            trim_blocks=True,
            lstrip_blocks=True,
            # lenient in production (a typo renders empty, not a failed draft at 3 a.m.);
            # strict in check-config, so the typo is found in review
            undefined=jinja2.StrictUndefined if self.strict else jinja2.Undefined,
        )

    def render(self, incident: Incident, audience: StakeholderAudience, *, now: float) -> str:
        """The draft text; raises jinja2.TemplateError when the template fails."""
        template = self.env.get_template(f"{audience.template}.j2")
        text = template.render(draft_context(incident, audience, self.config, now=now))
        return re.sub(r"\n{3,}", "\n\n", text).strip()

    def draft(
        self, incident: Incident, audience: StakeholderAudience, *, now: float
    ) -> tuple[str, str | None]:
        """(draft, problem): a failing template yields the latest update and why."""
        import jinja2  # loaded by `env` already

        try:
            return self.render(incident, audience, now=now), None
        except jinja2.TemplateError as exc:
            log.warning(
                "stakeholder template failed",
                extra={"incident": incident.id, "template": audience.template, "error": str(exc)},
            )
            fallback = incident.last_update.text if incident.last_update else incident.title
            return fallback, f"Template {audience.template} failed ({exc}); edit this instead."


def sample_incidents(config: IncidentConfig, now: float) -> list[Incident]:
    """An incident in each status, for check-config to render every template with."""
    severity = config.severities[0].name
    base = Incident(
        id="20250101-1",
        title="Checkout API returning errors",
        severity=severity,
        description="Customers cannot complete purchases",
        declared_by="U0SAMPLE",
        declared_at=now - 1800,
        roles={"commander": "U0SAMPLE", "comms_lead": "U0SAMPLE2"},
        channel_id="C0SAMPLE",
        channel_name="inc-20250101-1-checkout-api-returning-errors",
    )
    out = [base]
    for status in ("identified", "monitoring"):
        update = StatusUpdate(
            at=now - 300,
            by="U0SAMPLE",
            text="*Impact:* 20% of checkouts fail\n*Current actions:* rolling back",
            status=status,
            severity=severity,
        )
        out.append(base.model_copy(update={"status": status, "last_update": update}))
    out.append(
        out[-1].model_copy(
            update={"status": "resolved", "resolved_at": now, "resolution": "Rolled back"}
        )
    )
    return out


def check_templates(
    config: IncidentConfig, *, now: float | None = None
) -> list[tuple[tuple[str | int, ...], str]]:
    """Render every template the config's audiences use against sample incidents, with
    undefined names as errors: (key path, problem) each (empty: all render)."""
    drafts = Drafts(config, strict=True)
    now = now if now is not None else time.time()
    problems: list[tuple[tuple[str | int, ...], str]] = []
    seen: set[str] = set()
    for severity, audiences in config.stakeholders.items():
        for i, audience in enumerate(audiences):
            if audience.template in seen:
                continue
            seen.add(audience.template)
            import jinja2  # only for a config with stakeholder templates

            for incident in sample_incidents(config, now):
                try:
                    drafts.render(incident, audience, now=now)
                except jinja2.TemplateError as exc:
                    where = _template_line(exc) or f"{audience.template}.j2"
                    problems.append(
                        (
                            ("stakeholders", severity, i, "template"),
                            f"{where} (rendering a sample {incident.status} incident): {exc}",
                        )
                    )
                    break
    return problems


def _template_line(exc: BaseException) -> str | None:
    """`path/name.j2:line` where a template failed: jinja2 puts the template's own file
    and line into the traceback's frames."""
    found = None
    for frame, line in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename.endswith(".j2"):
            found = f"{frame.f_code.co_filename}:{line}"
    return found


# -- the cadence ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    incident: Incident
    audience: StakeholderAudience
    next_due: float | None


@dataclass(eq=False)
class Stakeholders(Scheduled):
    def __post_init__(self) -> None:
        self.drafts = Drafts(self.config)

    def install(self) -> None:
        self.scheduler.on(DUE, self._due)

    def audiences(self, incident: Incident) -> list[StakeholderAudience]:
        return self.config.stakeholders_for(incident.severity)

    def owner(self, incident: Incident, audience: StakeholderAudience) -> str | None:
        """Who is reminded: the audience's owner role, else the comms lead, else the
        commander (None: nobody holds any of them)."""
        for role in (audience.owner, "comms_lead", "commander"):
            if role and incident.roles.get(role):
                return incident.roles[role]
        return None

    # -- lifecycle ----------------------------------------------------------------------------
    async def on_incident_event(self, event: str, incident: Incident) -> None:
        if event == "declared":
            await self.start(incident, anchor=incident.declared_at, first=True)
        elif event in ("severity", "reopened"):
            await self.start(incident, anchor=self.clock())
        elif event == "resolved":
            await self.finish(incident)

    async def start(self, incident: Incident, *, anchor: float, first: bool = False) -> None:
        """Each audience of the incident's severity: its first update is due after `anchor`.
        Audiences of the previous severity that this one lacks stop. `first`: the
        declaration's, which has nothing older to stop: the incident as declared serves,
        its generation ordering the items (a later change's, newer, drops them)."""
        if first:
            for audience in self.audiences(incident):
                await self._schedule(
                    incident, audience, anchor + audience.first_due.total_seconds(), anchor=anchor
                )
            return
        current = await self.store.get(incident.id)
        if current is None or not current.is_open or current.severity != incident.severity:
            return  # a newer change's listener decides
        # the fresh generation (not the event's) orders these items after anything older
        await self.scheduler.cancel(current.id, DUE, generation=current.generation)
        for audience in self.audiences(current):
            await self._schedule(
                current, audience, anchor + audience.first_due.total_seconds(), anchor=anchor
            )

    async def _schedule(
        self,
        incident: Incident,
        audience: StakeholderAudience,
        due_at: float,
        *,
        anchor: float,
        generation: int | None = None,
        final: bool = False,
    ) -> None:
        await self.scheduler.schedule(
            DUE,
            incident.id,
            due_at,
            key=audience.key,
            payload={
                "audience": audience.key,
                "severity": incident.severity,
                "anchor": anchor,
                "final": final,
            },
            generation=incident.generation if generation is None else generation,
            lane=LANE_PREFIX + audience.key,
        )

    async def finish(self, incident: Incident) -> None:
        await self.scheduler.cancel(incident.id, DUE, generation=incident.generation)
        now = self.clock()
        for audience in self.audiences(incident):
            if audience.key in incident.stakeholder_sent:
                await self._schedule(incident, audience, now, anchor=now, final=True)

    # -- reminders ------------------------------------------------------------------------------
    async def _due(self, item: DueItem) -> None:
        incident = await self.store.get(item.incident_id)
        if incident is None:
            return
        final = bool(item.payload.get("final"))
        key = str(item.payload.get("audience"))
        audience = next((a for a in self.audiences(incident) if a.key == key), None)
        if audience is None or incident.severity != item.payload.get("severity"):
            return  # the severity changed: its own cadences run
        if final == incident.is_open:
            return  # reopened since (a final reminder) or resolved (a cadence reminder)
        if not incident.channel_id:
            raise Retry("the incident has no channel yet")
        anchor = float(item.payload.get("anchor", 0))
        if not final and incident.stakeholder_sent.get(key, 0) > anchor + 1e-6:
            return  # an update was sent since: its send restarted the cadence
        owner = self.owner(incident, audience)
        if final:
            message = ui.final_update_due(incident, audience, owner=owner)
        else:
            last = incident.stakeholder_sent.get(key)
            message = ui.update_due(incident, audience, owner=owner, last_sent=last)
        await self._post_once(incident, item, message)
        if not final:  # again every `every` until an update is sent
            await self._schedule(
                incident,
                audience,
                item.due_at + audience.every.total_seconds(),
                anchor=anchor,
                generation=item.generation,
            )

    async def _post_once(self, incident: Incident, item: DueItem, message: ui.Message) -> None:
        assert incident.channel_id
        await post_for_item(
            self.slack, incident.channel_id, item, message, what="stakeholder reminder"
        )

    # -- drafting and sending -------------------------------------------------------------------
    def find(self, incident: Incident, key: str) -> StakeholderAudience:
        audience = next((a for a in self.audiences(incident) if a.key == key), None)
        audience = audience or self.config.audience(key)
        if audience is None:
            raise IncidentError(f"No stakeholder audience {key} is configured any more.")
        return audience

    async def draft(
        self, incident_id: str, key: str
    ) -> tuple[Incident, StakeholderAudience, str, str | None]:
        incident = await self.store.get(incident_id)
        if incident is None:
            raise IncidentError(f"No incident {incident_id}.")
        audience = self.find(incident, key)
        # drafted as the audience may read it: a private incident without its title
        shown = redaction.for_destination(incident, self.config, audience.channel)
        text, problem = self.drafts.draft(shown, audience, now=self.clock())
        return incident, audience, text, problem

    async def send(self, incident_id: str, key: str, text: str, *, by: str) -> Sent:
        """Post the update to the audience, record it, restart the audience's cadence."""
        text = text.strip()
        if not text:
            raise IncidentError("The update is empty.")
        incident = await self.store.get(incident_id)
        if incident is None:
            raise IncidentError(f"No incident {incident_id}.")
        audience = self.find(incident, key)
        # a private incident's texts are taken out of what leaves its channel, even typed
        shown = redaction.for_destination(incident, self.config, audience.channel)
        message = ui.stakeholder_update(shown, redaction.scrub(incident, text), by=by)
        await self._deliver(incident, audience, message)
        now = self.clock()
        first_line = " ".join(text.splitlines()[0].split()) if text else ""

        def mutate(inc: Incident) -> list[TimelineEntry]:
            inc.stakeholder_sent[audience.key] = now
            where = ui.destination_text(audience)
            users, channels = ui.mentionable(shown)
            line = mk.keeping(first_line[:200], users=users, channels=channels)
            note = md("Stakeholder update to {} ({}): {}", audience.audience, where, line)
            return [TimelineEntry(at=now, actor=by, kind="stakeholder", text=note)]

        incident = await self.store.update(incident.id, mutate)
        next_due: float | None = None
        if incident.is_open and any(a.key == audience.key for a in self.audiences(incident)):
            next_due = now + audience.every.total_seconds()
            # the update's new generation drops the audience's pending reminder
            await self._schedule(incident, audience, next_due, anchor=now)
        else:  # a final update: nothing more is due for this audience
            await self.scheduler.cancel(
                incident.id, DUE, key=audience.key, generation=incident.generation
            )
        log.info("stakeholder update sent", extra={"incident": incident.id, "audience": key})
        return Sent(incident, audience, next_due)

    async def _deliver(
        self, incident: Incident, audience: StakeholderAudience, message: ui.Message
    ) -> None:
        text, blocks = message
        where = audience.channel
        kind = target_kind(where)
        try:
            if kind == "group":
                members = await self.slack.usergroup_members(where)
                if not members:
                    group = mk.usergroup(where)
                    raise IncidentError(md("User group {} has no members to tell.", group))
                for member in members:
                    await self.slack.post(member, text, blocks)
            else:
                await self.slack.post(where, text, blocks)
        except SlackError as exc:
            log.warning(
                "stakeholder update not posted",
                extra={"incident": incident.id, "to": where, "error": exc.code},
            )
            raise IncidentError(
                f"Slack refused the update for {audience.audience} ({exc.code}); nothing was "
                "recorded, so send it again once that is fixed (`/incident doctor` checks "
                "the channel)."
            ) from exc

    # -- repair -------------------------------------------------------------------------------
    async def reconcile(self) -> int:
        """Give each open incident's audiences without a pending reminder their cadence
        back (a crash between a change and its listener). One replica at a time."""
        fixed = 0
        async with self.store.held(Lease.STAKEHOLDERS_RECONCILE, ttl=60) as mine:
            if not mine:
                return 0
            for incident in await self.store.open_incidents(limit=10_000):
                pending = {
                    i.key for i in await self.scheduler.pending(incident.id) if i.kind == DUE
                }
                for audience in self.audiences(incident):
                    if audience.key in pending:
                        continue
                    sent = incident.stakeholder_sent.get(audience.key)
                    anchor = sent or incident.declared_at
                    wait = audience.every if sent else audience.first_due
                    await self._schedule(
                        incident, audience, anchor + wait.total_seconds(), anchor=anchor
                    )
                    fixed += 1
        if fixed:
            log.info("stakeholder cadences restored", extra={"count": fixed})
        return fixed

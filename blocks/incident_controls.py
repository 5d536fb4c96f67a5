"""The pinned card's controls and the forms they open. Pure: no I/O.

Two actions rows at most, for the state the card shows (the card is re-rendered through
the mirror, so they are always current): *Take command* (while nobody commands), *Post
update*, the *Severity* select and *Resolve*; then *Roles*, *Runbook* and, at a paging
severity (or with a page open), *Escalate*. Nothing once resolved. Each control is the
same action as the command it stands for, and is handled beside it: *Take command* in
handlers/policy.py, *Post update* in handlers/reminders.py, *Severity*, *Resolve* and
*Roles* in handlers/interactions.py, *Runbook* in handlers/runbooks.py, *Escalate* in
handlers/paging.py. Every button's value is the incident id.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from blocks.common import (
    Block,
    actions,
    button,
    context,
    md,
    option,
    plain,
    role_title,
    shown_title,
)
from blocks.mrkdwn import clip
from blocks.policy import ACTION_TAKE_COMMAND
from blocks.reminders import ACTION_POST_UPDATE
from bot.core.config import IncidentConfig
from bot.core.models import Incident
from bot.runbooks.library import Runbook

CONTROLS_BLOCK = "incident_controls"  # the first row: command, update, severity, resolve
MORE_CONTROLS_BLOCK = "incident_controls_more"  # the second: roles, runbook, escalate
ACTION_RESOLVE = "incident_resolve"  # opens the resolve form
ACTION_SEVERITY = "incident_severity"  # a select; each option's value: severity_value()
ACTION_ROLES = "incident_roles"  # opens the roles form
ACTION_RUNBOOK = "incident_runbook"  # opens the runbook picker
ACTION_ESCALATE = "incident_escalate"  # pages the next level, once confirmed
RESOLVE_CALLBACK = "incident_resolve_form"
RESOLVE_SUMMARY = "summary"
ROLES_CALLBACK = "incident_roles_form"
RUNBOOK_CALLBACK = "incident_runbook_form"
RUNBOOK_FIELD = "runbook"
OPTIONS_MAX = 100  # options in one select menu, its option groups' together

_OPEN_PAGE = ("pending", "triggered", "acknowledged")


def severity_value(incident_id: str, severity: str) -> str:
    return f"{incident_id}|{severity}"


def parse_severity_value(value: str) -> tuple[str, str]:
    incident_id, _, severity = value.partition("|")
    return incident_id, severity


def card_controls(incident: Incident, config: IncidentConfig) -> list[Block]:
    """The card's actions rows for the state it shows (none once resolved)."""
    if not incident.is_open:
        return []
    first: list[Block] = []
    if not incident.commander:
        first.append(button("Take command", ACTION_TAKE_COMMAND, incident.id, style="primary"))
    first.append(
        button("Post update", ACTION_POST_UPDATE, incident.id, style=None if first else "primary")
    )
    options = [
        option(f"{s.name} · {s.label}", severity_value(incident.id, s.name))
        for s in config.severities
    ]
    select: Block = {
        "type": "static_select",
        "action_id": ACTION_SEVERITY,
        "placeholder": plain("Severity"),
        "options": options,
    }
    current = severity_value(incident.id, incident.severity)
    initial = next((o for o in options if o["value"] == current), None)
    if initial:
        select["initial_option"] = initial
    first += [select, button("Resolve", ACTION_RESOLVE, incident.id)]
    more = [
        button("Roles", ACTION_ROLES, incident.id),
        button("Runbook", ACTION_RUNBOOK, incident.id),
    ]
    if _pages(incident, config):
        more.append(escalate_button(incident))
    return [actions(*first, block_id=CONTROLS_BLOCK), actions(*more, block_id=MORE_CONTROLS_BLOCK)]


def _pages(incident: Incident, config: IncidentConfig) -> bool:
    """A page there is (or would be) to escalate: the severity pages, or a page is open
    (the severity was lowered after paging)."""
    try:
        paging = config.severity(incident.severity).page
    except KeyError:
        paging = False
    return paging or (incident.page is not None and incident.page.status in _OPEN_PAGE)


def escalate_button(incident: Incident) -> Block:
    """*Escalate*, behind Slack's own confirmation dialog: a page is not sent by a slip."""
    escalate = button("Escalate", ACTION_ESCALATE, incident.id, style="danger")
    escalate["confirm"] = {
        "title": plain("Escalate the page?", 100),
        "text": plain(
            "PagerDuty pages the next level of the escalation policy now, as "
            "/incident escalate does.",
            300,
        ),
        "confirm": plain("Escalate", 30),
        "deny": plain("Not now", 30),
        "style": "danger",
    }
    return escalate


def _form(
    callback_id: str, title: str, submit: str, private_metadata: str, blocks: list[Block]
) -> dict[str, object]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, 24),
        "submit": plain(submit, 24),
        "close": plain("Cancel", 24),
        "private_metadata": private_metadata,
        "blocks": blocks,
    }


def _about(incident: Incident) -> Block:
    return context(md("*{}* · {}", incident.id, shown_title(incident)))


def resolve_modal(incident: Incident, *, private_metadata: str) -> dict[str, object]:
    """The card's *Resolve*: what `/incident resolve [summary]` takes, as a form."""
    summary: Block = {
        "type": "input",
        "block_id": RESOLVE_SUMMARY,
        "optional": True,
        "label": plain("Summary"),
        "element": {
            "type": "plain_text_input",
            "action_id": RESOLVE_SUMMARY,
            "multiline": True,
            "max_length": 2500,
            "placeholder": plain("What happened, and what fixed it"),
        },
    }
    blocks = [_about(incident), summary]
    return _form(RESOLVE_CALLBACK, "Resolve the incident", "Resolve", private_metadata, blocks)


def role_field(role: str) -> str:
    """The block and action id of a role's user select in the roles form."""
    return f"role:{role}"


def roles_modal(
    incident: Incident, config: IncidentConfig, *, private_metadata: str
) -> dict[str, object]:
    """The card's *Roles*: one user select per configured role, holding who has it now
    (what `/incident commander` and `/incident role` assign, as a form)."""
    required = set(config.required_roles(incident.severity))
    blocks = [_about(incident)]
    for role in config.roles:
        element: Block = {
            "type": "users_select",
            "action_id": role_field(role),
            "placeholder": plain("Pick a person"),
        }
        if holder := incident.roles.get(role):
            element["initial_user"] = holder
        field: Block = {
            "type": "input",
            "block_id": role_field(role),
            "optional": True,
            "label": plain(role_title(role), 2000),
            "element": element,
        }
        if role in required:
            field["hint"] = plain(f"The procedure needs one at {incident.severity}.", 2000)
        blocks.append(field)
    blocks.append(context(md("Only the roles you change are assigned, each on the timeline.")))
    return _form(ROLES_CALLBACK, "Incident roles", "Assign", private_metadata, blocks)


def runbook_modal(
    incident: Incident,
    suggested: Sequence[Runbook],
    others: Sequence[Runbook],
    *,
    posted: Collection[str],
    private_metadata: str,
) -> dict[str, object]:
    """The card's *Runbook*: the runbooks to post, those that fit the incident best first
    (bot/runbooks/library.py ranks them) in a group of their own, the best one not yet
    posted picked; one already posted says so."""

    def choice(book: Runbook) -> Block:
        opt = option(("✓ " if book.id in posted else "") + book.title, book.id)
        about = "Posted in this incident already" if book.id in posted else book.summary
        opt["description"] = plain(about or book.severity, 75)
        return opt

    room = OPTIONS_MAX - len(suggested)
    shown, left = list(others[:room]), len(others) - room
    picker: Block = {
        "type": "static_select",
        "action_id": RUNBOOK_FIELD,
        "placeholder": plain("Pick a runbook"),
    }
    if suggested and shown:
        picker["option_groups"] = [
            {"label": plain("Suggested", 75), "options": [choice(b) for b in suggested]},
            {"label": plain("Other runbooks", 75), "options": [choice(b) for b in shown]},
        ]
    else:
        picker["options"] = [choice(b) for b in [*suggested, *shown]]
    best = next((b for b in suggested if b.id not in posted), None)
    if best is not None:
        picker["initial_option"] = choice(best)
    blocks: list[Block] = [
        _about(incident),
        {
            "type": "input",
            "block_id": RUNBOOK_FIELD,
            "label": plain("Runbook"),
            "element": picker,
        },
    ]
    note = md("Posted as a checklist in the incident's channel, as `/incident runbook` posts it.")
    if left > 0:
        note = md("{} {} more: `/incident runbook` lists every one.", note, left)
    blocks.append(context(clip(note, 3000)))
    return _form(RUNBOOK_CALLBACK, "Post a runbook", "Post", private_metadata, blocks)


__all__ = [
    "ACTION_ESCALATE",
    "ACTION_RESOLVE",
    "ACTION_ROLES",
    "ACTION_RUNBOOK",
    "ACTION_SEVERITY",
    "CONTROLS_BLOCK",
    "MORE_CONTROLS_BLOCK",
    "RESOLVE_CALLBACK",
    "RESOLVE_SUMMARY",
    "ROLES_CALLBACK",
    "RUNBOOK_CALLBACK",
    "RUNBOOK_FIELD",
    "card_controls",
    "escalate_button",
    "parse_severity_value",
    "resolve_modal",
    "role_field",
    "roles_modal",
    "runbook_modal",
    "severity_value",
]

"""Block Kit for PagerDuty paging in an incident channel: paged, escalated, acknowledged,
resolved in PagerDuty, failing, off. Pure functions of the domain objects."""

from __future__ import annotations

import blocks.mrkdwn as mk
from blocks.common import Message, Mrkdwn, context, md, mention, section
from bot.core.durations import format_duration
from bot.core.models import PageState


def holders(page: PageState) -> Mrkdwn:
    """Who has the page: `page.oncall` is mrkdwn the bot wrote (bot/paging/)."""
    return mk.join(Mrkdwn.stored(who) for who in page.oncall) or md("nobody on call")


def _pd_ref(page: PageState) -> Mrkdwn:
    label = f"PagerDuty #{page.pd_number}" if page.pd_number else "PagerDuty"
    return mk.link(page.html_url, label) if page.html_url else mk.escape(label)


def _message(text: Mrkdwn, page: PageState | None = None) -> Message:
    blocks = [section(text)]
    if page is not None and page.pd_incident_id:
        blocks.append(context(md("{} · level {}", _pd_ref(page), page.level)))
    return text, blocks


def paging_off(reason: str) -> Message:
    return _message(md(":no_bell: Paging is off: {} Nobody was paged.", reason))


def paged(page: PageState) -> Message:
    service = page.service or "the"
    return _message(md(":rotating_light: Paged {} on-call: {}", service, holders(page)), page)


def escalated(page: PageState, *, waited: float | None, by: str | None) -> Message:
    if by:
        lead = md("{} escalated the page", mention(by))
    else:
        lead = md("No acknowledgement in {}: escalated", format_duration(waited or 0))
    text = md(":arrow_double_up: {} to level {}, {}", lead, page.level, holders(page))
    return _message(text, page)


def escalated_in_pagerduty(page: PageState) -> Message:
    text = md(
        ":arrow_double_up: PagerDuty escalated the page to level {}, {}", page.level, holders(page)
    )
    return _message(text, page)


def last_level(page: PageState, *, waited: float | None, by: str | None) -> Message:
    if by:
        lead = md("{}, the page is already at", mention(by))
    else:
        lead = md(":warning: No acknowledgement in {} at", format_duration(waited or 0))
    text = md(
        "{} the escalation policy's last level ({}, {}): there is nobody further to escalate to.",
        lead,
        page.level,
        holders(page),
    )
    return _message(text, page)


def acknowledged(page: PageState) -> Message:
    by = page.acked_by or "someone"
    return _message(md(":white_check_mark: {} acknowledged the page in PagerDuty.", by), page)


def resolved_in_pagerduty(page: PageState, by: str | None) -> Message:
    who = f" by {by}" if by else ""
    text = md(
        ":ballot_box_with_check: The PagerDuty incident was resolved in PagerDuty{}. "
        "This incident stays open until it is resolved here.",
        who,
    )
    return _message(text, page)


def paging_failing(reason: str, attempts: int) -> Message:
    return _message(
        md(
            ":warning: Paging PagerDuty failed {} times ({}); still retrying. Page the on-call "
            "another way if this is urgent.",
            attempts,
            reason,
        )
    )


def paging_failed(reason: str) -> Message:
    return _message(
        md(
            ":x: Paging PagerDuty failed and will not be retried: {}. "
            "Page the on-call another way.",
            reason,
        )
    )

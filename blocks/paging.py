"""Block Kit for PagerDuty paging in an incident channel: paged, escalated, acknowledged,
resolved in PagerDuty, failing, off. Pure functions of the domain objects."""

from __future__ import annotations

from blocks.common import context, escape, section
from blocks.incident import Message
from blocks.reminders import human_duration
from bot.models import PageState


def _who(page: PageState) -> str:
    return ", ".join(page.oncall) if page.oncall else "nobody on call"


def _pd_ref(page: PageState) -> str:
    label = f"PagerDuty #{page.pd_number}" if page.pd_number else "PagerDuty"
    return f"<{page.html_url}|{label}>" if page.html_url else label


def _message(text: str, page: PageState | None = None) -> Message:
    blocks = [section(text)]
    if page is not None and page.pd_incident_id:
        blocks.append(context(f"{_pd_ref(page)} · level {page.level}"))
    return text, blocks


def paging_off(reason: str) -> Message:
    return _message(f":no_bell: Paging is off: {escape(reason)} Nobody was paged.")


def paged(page: PageState) -> Message:
    service = escape(page.service or "the")
    return _message(f":rotating_light: Paged {service} on-call: {_who(page)}", page)


def escalated(page: PageState, *, waited: float | None, by: str | None) -> Message:
    if by:
        lead = f"<@{by}> escalated the page"
    else:
        lead = f"No acknowledgement in {human_duration(waited or 0)}: escalated"
    return _message(f":arrow_double_up: {lead} to level {page.level}, {_who(page)}", page)


def escalated_in_pagerduty(page: PageState) -> Message:
    return _message(
        f":arrow_double_up: PagerDuty escalated the page to level {page.level}, {_who(page)}", page
    )


def last_level(page: PageState, *, waited: float | None, by: str | None) -> Message:
    if by:
        lead = f"<@{by}>, the page is already at"
    else:
        lead = f":warning: No acknowledgement in {human_duration(waited or 0)} at"
    return _message(
        f"{lead} the escalation policy's last level ({page.level}, {_who(page)}): there is "
        "nobody further to escalate to.",
        page,
    )


def acknowledged(page: PageState) -> Message:
    by = escape(page.acked_by or "someone")
    return _message(f":white_check_mark: {by} acknowledged the page in PagerDuty.", page)


def resolved_in_pagerduty(page: PageState, by: str | None) -> Message:
    who = f" by {escape(by)}" if by else ""
    return _message(
        f":ballot_box_with_check: The PagerDuty incident was resolved in PagerDuty{who}. "
        "This incident stays open until it is resolved here.",
        page,
    )


def paging_failing(reason: str, attempts: int) -> Message:
    return _message(
        f":warning: Paging PagerDuty failed {attempts} times ({escape(reason)}); still "
        "retrying. Page the on-call another way if this is urgent."
    )


def paging_failed(reason: str) -> Message:
    return _message(
        f":x: Paging PagerDuty failed and will not be retried: {escape(reason)}. "
        "Page the on-call another way."
    )

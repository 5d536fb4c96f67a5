"""PagerDuty: the one seam. `client` makes every PagerDuty call, over `sessions`, the only
module importing pdpyras (at the first call, not at start-up); `models` what callers get
back; `webhooks` what PagerDuty sends us. Import from here."""

from bot.core.pagerduty.client import PagerDuty
from bot.core.pagerduty.models import (
    EscalationLevel,
    InvalidWebhook,
    OnCallEntry,
    PagerDutyUser,
    PageResult,
    PagingError,
    PDIncident,
    PDService,
    WebhookEvent,
    split_now_next,
)
from bot.core.pagerduty.webhooks import parse_webhook, verify_webhook_signature

__all__ = [
    "EscalationLevel",
    "InvalidWebhook",
    "OnCallEntry",
    "PDIncident",
    "PDService",
    "PageResult",
    "PagerDuty",
    "PagerDutyUser",
    "PagingError",
    "WebhookEvent",
    "parse_webhook",
    "split_now_next",
    "verify_webhook_signature",
]

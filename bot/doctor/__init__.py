"""The set-up checklist behind `python -m bot doctor` and `/incident doctor`.

It owns the checks: each is a small async function that looks at one thing (a token, a
scope list, a channel, a PagerDuty object, Redis, a file, a clock) and returns one
`CheckResult` with the exact fix when something is wrong. Nothing here prints; the CLI
(`report_text`) and blocks/doctor.py render the results.

All checks run at once, each under its own timeout, so one hanging dependency costs its
own lines a timeout and nothing else. Checks that need the same answer (auth.test, the
channel list, the PagerDuty token) share one request; a check whose input failed says
"not checked" (`skip`) instead of repeating the failure.

Where things are, one file per group of lines in the report:

- context.py: `Setup` (what is checked), the run's `Context` (config in effect, shared
  answers), the `Line` a check fills in.
- slack.py: the token, its scopes, the signing secret or Socket Mode token.
- targets.py: every channel, user group and user the config names.
- pagerduty.py: token, From address, service, escalation policy, schedules.
- store.py: Redis, its persistence, the store's continuity.
- config.py: the config file and the runbooks.
- clock.py: the clock against Slack's and PagerDuty's.
- manifest.py: the scopes manifest.yaml asks for.
- plan.py: which checks a set-up gets, and running them; report.py: summing up.
"""

from bot.doctor.clock import clock_skew
from bot.doctor.context import DEFAULT_TIMEOUT, CheckFn, Setup
from bot.doctor.manifest import SCOPE_USES, manifest_path, manifest_scopes
from bot.doctor.plan import check_procedure_targets, plan, run_checks
from bot.doctor.report import SYMBOLS, exit_code, report_text, summary
from bot.doctor.targets import channel_uses, target_checks, target_uses

__all__ = [
    "DEFAULT_TIMEOUT",
    "SCOPE_USES",
    "SYMBOLS",
    "CheckFn",
    "Setup",
    "channel_uses",
    "check_procedure_targets",
    "clock_skew",
    "exit_code",
    "manifest_path",
    "manifest_scopes",
    "plan",
    "report_text",
    "run_checks",
    "summary",
    "target_checks",
    "target_uses",
]

"""Every name the store gives Redis: its keys, the once-marker scopes, the leases and the
rate limits. Nothing else in the bot spells a key; features pass these enums.

Key schema (prefix `ir:`; times are UTC epoch seconds):

| key                                   | type   | holds                                          |
| ------------------------------------- | ------ | ---------------------------------------------- |
| ir:incident:{id}                      | string | the Incident as JSON                           |
| ir:incident:{id}:timeline             | list   | TimelineEntry JSON, oldest first               |
| ir:incidents:open                     | zset   | open incident ids, score = declared_at         |
| ir:incidents:all                      | zset   | every incident id, score = declared_at         |
| ir:channel:{channel_id}               | string | incident id owning that Slack channel (moves   |
|                                       |        | with the incident when it is made private)     |
| ir:seq:{yyyymmdd}                     | int    | incidents declared that UTC day (INCR)         |
| ir:once:{scope}:{key}                 | string | idempotency marker (SET NX EX), value = result |
| ir:once:slack-request:{signature}     | string | a signed Slack HTTP request already served: a  |
|                                       |        | replay within its lifetime is dropped          |
|                                       |        | (bot/core/slack_transport.py) |
| ir:lease:{name}                       | string | short lease so one replica runs a job (NX PX)  |
| ir:lease:channel:{id}                 | string | who is making the incident's channel; its id   |
|                                       |        | is the incident's `channel_id`, written from   |
|                                       |        | Slack's answer: a channel is never adopted by  |
|                                       |        | name (bot/incidents/)                          |
| ir:incident:{id}:runbooks             | hash   | runbook id -> run id: one checklist per runbook|
| ir:run:{run_id}                       | string | RunbookRun JSON: runbook, incident, channel,   |
|                                       |        | message ts of each part posted, in order       |
| ir:run:{run_id}:steps                 | hash   | step id -> StepState JSON (absent = open)      |
| ir:run:{run_id}:version               | int    | bumped by every effective step change          |
| ir:run:{run_id}:shown                 | hash   | part index -> digest of what Slack shows       |
| ir:lease:runbook:{run_id}             | string | who is bringing the checklist's messages in    |
|                                       |        | line with the store (runbooks/checklists.py)   |
| ir:oncall:snapshot                    | string | OnCallSnapshot JSON: the last on-call walk     |
|                                       |        | (EX = its horizon; bot/oncall.py)              |
| ir:oncall:failure                     | string | why the last on-call refresh failed; expires   |
|                                       |        | when PagerDuty may be asked again              |
| ir:slack:user-by-email:{email}        | string | Slack user ID with that email, "" = nobody     |
|                                       |        | (cached users.lookupByEmail answer)            |
| ir:due:at                             | zset   | due-item id -> due time; while an item is      |
|                                       |        | claimed, its lease expiry (core/schedule.py)   |
| ir:due:state:{incident}               | string | JSON, the incident's due-state (lua/lib_due):  |
|                                       |        | lane -> generation floor (older items are      |
|                                       |        | stale), item id -> the pending DueItem, item   |
|                                       |        | id -> its latest send record; EX a week past   |
|                                       |        | its furthest item, at least 30 days            |
|                                       |        | (the App Home's refresh is a due-item of the   |
|                                       |        | owner `app-home`, not of an incident)          |
| ir:due, ir:due:item:{id},             | (old)  | the format before: a due set, a hash per item, |
| ir:due:of:{incident},                 |        | a set and a floor hash per incident; an item   |
| ir:due:gen:{incident}                 |        | still in it moves over when it comes due       |
| ir:due:wake                           | pubsub | due time of an item scheduled by a process     |
|                                       | channel| that will not time it itself: every replica's  |
|                                       |        | timer moves to it                              |
| ir:pd:{pagerduty_incident_id}         | string | our incident id for a PagerDuty incident, as   |
|                                       |        | releases before 2026-12 linked them (90 days); |
|                                       |        | read only for a webhook without incident_key   |
| ir:alerts:stream                      | stream | accepted alert batches (AlertBatch JSON, field |
|                                       |        | `b`), consumer group `workers`; an entry is    |
|                                       |        | deleted once applied (bot/alerts/)             |
| ir:alerts:queued                      | int    | bytes in the stream not yet applied (accepts   |
|                                       |        | stop at `alerts.max_queued`)                   |
| ir:alertgroup:{gid}                   | hash   | an alert group: key, alertname, lane, class,   |
|                                       |        | counts, version (bumped by every status        |
|                                       |        | change), its incident, the Slack messages      |
|                                       |        | showing it (store/alerts.py)             |
| ir:alertgroup:{gid}:state             | hash   | fingerprint -> "<stream seq>|<status>", at     |
|                                       |        | most `alerts.max_instances`                    |
| ir:alertgroup:{gid}:alerts            | hash   | fingerprint -> AlertInstance JSON (latest), of |
|                                       |        | the few alerts Slack shows                     |
| ir:alertgroup:{gid}:resolved          | zset   | resolved fingerprints, score = when; dropped   |
|                                       |        | after `alerts.flap_window`                     |
| ir:alertgroup:{gid}:extra             | HLL    | firing fingerprints beyond max_instances       |
| ir:alerts:groups:{rule|unmatched}     | zset   | group id -> last seen: the class's groups, at  |
|                                       |        | most `alerts.max_groups`                       |
| ir:alerts:created:{class}:{minute}    | int    | groups of the class created that minute        |
| ir:alerts:due[:page|:rest]            | zset   | group id (or ~digest, ~notice) -> when it next |
|                                       |        | needs its reconciler, one set per lane         |
| ir:alerts:board:{digest|notice}       | hash   | the announce channel's board of this window:   |
|                                       |        | start, its message, dropped counts (notice)    |
| ir:alerts:board:digest:groups         | zset   | unmatched group ids in this digest -> joined at|
| ir:alerts:pace:{budget}               | string | GCRA arrival time of a Slack call budget       |
| ir:incident:{id}:followups            | hash   | follow-up number -> FollowUp JSON              |
| ir:incident:{id}:followup-seq         | int    | the incident's last follow-up number (INCR)    |
| ir:followups:open                     | zset   | open follow-up ids, score = created_at         |
| ir:incident:{id}:postmortem           | string | PostmortemState JSON (bot/postmortem.py)       |
| ir:incident:{id}:captured             | set    | ts of channel messages already put on the     |
|                                       |        | timeline by a pin or a 📌 (bot/timeline.py)     |
| ir:incident:{id}:captured-by          | hash   | message ts -> JSON: the credited pin or 📌's   |
|                                       |        | Slack event time (µs), user, timeline entry    |
| ir:rate:{rate}:{who}                  | string | GCRA arrival time of a shared rate limit:      |
|                                       |        | declares per user (bot/core/policy.py), alert  |
|                                       |        | POSTs per sender (bot/alerts/)                 |
| ir:events                             | stream | lifecycle events (LifecycleEvent JSON, field   |
|                                       |        | `e`), written with the change they tell of     |
|                                       |        | (bot/core/events.py)                           |
| ir:event:{entry_id}                   | hash   | an entry left unfinished: subscriber -> "1"    |
|                                       |        | for each done with it; `_attempts`: times it   |
|                                       |        | was taken up (once taken up again)             |
| ir:install                            | hash   | the install record: epoch, created_at, lost_at |
|                                       |        | (bot/core/identity.py)                         |
| ir:redis-server                       | string | run_id of the Redis server last seen           |
|                                       |        | (bot/core/consistency.py)                      |
| ir:db-owner                           | string | this Redis db is the store's with this prefix  |
|                                       |        | alone (`claim_db`: the sandbox claims its db)  |
| ir:mirror:{set}                       | hash   | part -> `<channel> <ts> <digest>` Slack shows  |
|                                       |        | (bot/core/mirror.py; 30 days after a change)   |
| ir:home:viewers                       | zset   | users who opened the App Home -> when; the     |
|                                       |        | recent ones (bounded) are kept current         |
|                                       |        | (bot/home.py)                                  |
| ir:home:version                       | int    | bumped by every incident change Home shows     |
| ir:home:changed                       | string | when the first change not yet shown was made   |
|                                       |        | (the refresh is due a moment after it)         |

`ir:` is the bot's prefix. A Store can be given another, and every key and script then
stays under it: the sandbox's is `sandbox:ir:`, so a sandbox pointed at a shared Redis can
neither read nor consume the bot's incidents, due-items, alert stream or leases.

Once-markers (`ir:once:{scope}:{key}`) are scoped by `Once`, leases (`ir:lease:{name}` or
`ir:lease:{name}:{of}`) named by `Lease`, rate limits (`ir:rate:{name}:{who}`) by `Rate`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

PREFIX = "ir:"
SANDBOX_PREFIX = "sandbox:ir:"  # bot/sandbox

# Reconcile lanes of alert groups, first served first: groups of rules whose severity
# pages, other rules' groups, then everything else (unmatched groups, the boards). Each
# has its own workers, so a lane's backlog never delays an earlier one.
Lane = Literal["page", "rule", "rest"]
LANES: tuple[Lane, ...] = ("page", "rule", "rest")
# Alert group classes, capped apart: unmatched noise never keeps a rule's group out.
GroupClass = Literal["rule", "unmatched"]
BOARDS = ("digest", "notice")  # messages of the announce channel, one per window
BOARD_MARK = "~"  # a due member "~digest" is a board, not a group
ALERT_CONSUMERS = "workers"  # the alert stream's consumer group


class Once(StrEnum):
    """The scope of an idempotency marker (`Store.claim_once`, `append_marked`): what the
    key it is claimed with names, and who claims it."""

    DECLARE = "declare"  # a declare's idempotency key -> its incident id (bot/incidents/)
    INVITE = "invite"  # one invite call per click (bot/incidents/)
    INVITED = "invited"  # its timeline entry
    VIEW = "view"  # a modal's view.id: one submission acted on (DESIGN rule 2)
    ASK = "ask"  # "ask someone who may" once per person and action a while
    REFUSED = "refused"  # a refusal's timeline entry (bot/core/policy.py)
    SLACK_REQUEST = "slack-request"  # a signed request served: replays dropped
    ALERT_BATCH = "alert-batch"  # an alert batch accepted once per Slack event id
    PD_WEBHOOK = "pd-webhook"  # a PagerDuty webhook event handled once (bot/paging/)
    PAGING_OFF = "paging-off"  # "paging is off" told once per incident
    PAGING_FAILING = "paging-failing"  # "paging keeps failing" told once a day
    LAST_LEVEL = "last-level"  # "nobody acknowledged the last level" told once
    PD_ESCALATING = "pd-escalating"  # an escalation the bot itself asked PagerDuty for
    ESCALATE_ASKED = "escalate-asked"  # "escalate now" asked once per page and level
    ESCALATION_SENT = "escalation-sent"  # an escalation step's message sent (bot/escalations.py)
    REMINDER_TIMELINE = "reminder-timeline"  # a reminder's timeline entry (bot/reminders.py)
    OBSERVED = "observed"  # an incident's numbers counted once (bot/stats.py)
    DRILL_NOTICE = "drill-notice"  # "this is a drill" posted once (bot/drills/)
    DRILL_ACK = "drill-ack"  # a drill page acknowledged once
    DRILL_STEP = "drill-step"  # a drill step's timeline entry
    # a message put on an incident's timeline by the shortcut, once (bot/timeline.py)
    TIMELINE_MESSAGE = "timeline-message"
    ALERT_THREAD = "alert-thread"  # an alert message's thread told of its incident, once


class Lease(StrEnum):
    """A lease (`Store.held`): one holder at a time across replicas. The first ones are
    one job each; the others are held per object, named by `of` (an incident, a run, an
    alert group or board)."""

    CONSISTENCY = "consistency"  # the repair pass after a failover (core/consistency.py)
    ONCALL_REFRESH = "oncall-refresh"  # the on-call walk (bot/oncall.py)
    PAGER_RECONCILE = "pager-reconcile"
    REMINDERS_RECONCILE = "reminders-reconcile"
    ESCALATIONS_RECONCILE = "escalations-reconcile"
    STAKEHOLDERS_RECONCILE = "stakeholders-reconcile"
    DRILLS_RECONCILE = "drills-reconcile"
    CHANNEL = "channel"  # of an incident: who is making its channel (bot/incidents/)
    PRIVATE = "private"  # of an incident: who is making it private (bot/privacy.py)
    RUNBOOK = "runbook"  # of a run: who renders the checklist (runbooks/checklists.py)
    ALERT_GROUP = "alertgroup"  # of an alert group: its reconciler (bot/alerts/)
    ALERT_BOARD = "alertboard"  # of a board: its reconciler (bot/alerts/boards.py)
    INCIDENT_COPIES = "incident"  # of an incident: who edits its card and announcement
    HOME = "home"  # of a user: who publishes their App Home (bot/home.py)


class Rate(StrEnum):
    """A rate limit shared by every replica (`Store.take_rate`), per `who`."""

    DECLARE = "declare"  # declares per user (bot/core/policy.py)
    ALERTMANAGER = "alertmanager"  # webhook POSTs per sender (bot/alerts/)


class Keys:
    """Every key the store uses, under one prefix (the schema above shows the bot's, `ir:`).
    The sandbox has its own prefix, so a sandbox sharing a Redis never touches the bot's keys."""

    def __init__(self, prefix: str = PREFIX) -> None:
        self.prefix = prefix
        self.open = f"{prefix}incidents:open"
        self.all = f"{prefix}incidents:all"
        self.oncall_snapshot = f"{prefix}oncall:snapshot"
        self.oncall_failure = f"{prefix}oncall:failure"
        self.due = f"{prefix}due:at"
        self.due_legacy = f"{prefix}due"  # the format before (a hash per item)
        self.due_wake = f"{prefix}due:wake"
        self.alert_stream = f"{prefix}alerts:stream"
        self.alert_queued = f"{prefix}alerts:queued"
        self.followups_open = f"{prefix}followups:open"
        self.db_owner = f"{prefix}db-owner"
        self.events = f"{prefix}events"
        self.server_seen = f"{prefix}redis-server"
        self.install = f"{prefix}install"
        self.home_viewers = f"{prefix}home:viewers"
        self.home_version = f"{prefix}home:version"
        self.home_changed = f"{prefix}home:changed"

    def event_progress(self, entry_id: str) -> str:
        return f"{self.prefix}event:{entry_id}"

    def incident(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}"

    def timeline(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}:timeline"

    def channel(self, channel_id: str) -> str:
        return f"{self.prefix}channel:{channel_id}"

    def seq(self, day: str) -> str:
        return f"{self.prefix}seq:{day}"

    def once(self, scope: Once, key: str) -> str:
        return f"{self.prefix}once:{scope}:{key}"

    def mirror(self, name: str) -> str:
        return f"{self.prefix}mirror:{name}"

    def lease(self, lease: Lease, of: str = "") -> str:
        return f"{self.prefix}lease:{lease}" + (f":{of}" if of else "")

    def slack_user_by_email(self, email: str) -> str:
        return f"{self.prefix}slack:user-by-email:{email.strip().lower()}"

    def incident_runbooks(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}:runbooks"

    def run(self, run_id: str) -> str:
        return f"{self.prefix}run:{run_id}"

    def run_steps(self, run_id: str) -> str:
        return f"{self.prefix}run:{run_id}:steps"

    def run_version(self, run_id: str) -> str:
        return f"{self.prefix}run:{run_id}:version"

    def run_shown(self, run_id: str) -> str:
        return f"{self.prefix}run:{run_id}:shown"

    def due_state(self, incident_id: str) -> str:
        return f"{self.prefix}due:state:{incident_id}"

    def pd_incident(self, pd_incident_id: str) -> str:
        return f"{self.prefix}pd:{pd_incident_id}"

    def alert_group(self, gid: str) -> str:
        return f"{self.prefix}alertgroup:{gid}"

    def alert_group_state(self, gid: str) -> str:
        return f"{self.prefix}alertgroup:{gid}:state"

    def alert_group_alerts(self, gid: str) -> str:
        return f"{self.prefix}alertgroup:{gid}:alerts"

    def alert_group_resolved(self, gid: str) -> str:
        return f"{self.prefix}alertgroup:{gid}:resolved"

    def alert_group_extra(self, gid: str) -> str:
        return f"{self.prefix}alertgroup:{gid}:extra"

    def alert_pace(self, budget: str) -> str:
        return f"{self.prefix}alerts:pace:{budget}"

    def alert_due(self, lane: Lane) -> str:
        # the rule lane keeps the key all groups were due in before there were lanes
        return f"{self.prefix}alerts:due" + ("" if lane == "rule" else f":{lane}")

    def alert_groups(self, cls: GroupClass) -> str:
        return f"{self.prefix}alerts:groups:{cls}"

    def alert_created(self, cls: GroupClass, minute: int) -> str:
        return f"{self.prefix}alerts:created:{cls}:{minute}"

    def alert_board(self, name: str) -> str:
        return f"{self.prefix}alerts:board:{name}"

    def alert_board_members(self, name: str) -> str:
        return f"{self.prefix}alerts:board:{name}:groups"

    def followups(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}:followups"

    def followup_seq(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}:followup-seq"

    def postmortem(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}:postmortem"

    def captured(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}:captured"

    def captured_by(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}:captured-by"

    def rate(self, rate: Rate, who: str) -> str:
        return f"{self.prefix}rate:{rate}:{who}"

"""After the incident, the pure parts: response numbers, follow-up grammar, Markdown
helpers and the Block Kit builders (checked against Slack's limits)."""

from __future__ import annotations

from datetime import UTC, datetime

import fakeredis
import pytest

import blocks.followups as fui
import blocks.postmortem as pui
from blocks.limits import check_blocks
from blocks.stats import duration, offset, stats_message
from bot.core.models import (
    PAGE_ACKNOWLEDGED,
    FollowUp,
    Incident,
    PageState,
    PostmortemState,
    TimelineEntry,
)
from bot.core.store import Store
from bot.followups import DueDateError, parse_followup
from bot.postmortem import cell, plain_markdown
from bot.stats import acknowledgement, percentile, report, times
from bot.timeline import event_micros, message_text, pinned_entry

BOT = frozenset({"UBOT"})


def incident(
    n: int, severity: str, declared: float, resolved: float | None = None, **extra: object
) -> Incident:
    fields: dict[str, object] = {
        "id": f"20260301-{n}",
        "title": f"Incident {n}",
        "severity": severity,
        "declared_by": "UDECL",
        "declared_at": declared,
        "status": "resolved" if resolved is not None else "investigating",
        "resolved_at": resolved,
    }
    return Incident.model_validate({**fields, **extra})


def entry(at: float, actor: str | None, kind: str, text: str = "") -> TimelineEntry:
    return TimelineEntry(at=at, actor=actor, kind=kind, text=text or kind)


def declared(inc: Incident) -> TimelineEntry:
    return entry(inc.declared_at, inc.declared_by, "declared", f"Declared {inc.severity}")


# Seven incidents whose numbers are worked out by hand in the test below.
A = incident(1, "SEV1", 0, 3600)
B = incident(2, "SEV1", 1000, 8200)
C = incident(3, "SEV1", 2000)
D = incident(4, "SEV2", 3000, 4800)
E = incident(5, "SEV2", 4000, 4600)
F = incident(6, "SEV2", 5000, 10400)
G = incident(7, "SEV2", 6000, 6900)
CASES: list[tuple[Incident, list[TimelineEntry]]] = [
    # paged and acknowledged at +300; an earlier human update does not count then
    (
        A,
        [
            declared(A),
            entry(0, None, "page", "Paging PagerDuty"),
            entry(60, "U1", "update"),
            entry(300, None, PAGE_ACKNOWLEDGED, "Acknowledged in PagerDuty by Carol"),
            entry(3600, "U1", "resolved"),
        ],
    ),
    # paged, never acknowledged: the first human action (+120) counts; the bot's doesn't
    (
        B,
        [
            declared(B),
            entry(1000, None, "page", "Paging PagerDuty"),
            entry(1010, None, "page", "Paged PagerDuty #2"),
            entry(1120, "U2", "role", "Commander: <@U2>"),
            entry(8200, "U2", "resolved"),
        ],
    ),
    # declared by an alert: the bot user's own status change is not an acknowledgement
    (C, [declared(C), entry(2030, "UBOT", "status"), entry(2600, "U3", "status")]),
    (
        D,
        [
            declared(D),
            entry(3001, None, "setup_failed"),
            entry(3900, "U1", "update"),
            entry(4800, "U1", "resolved"),
        ],
    ),
    (E, [declared(E), entry(4600, "U4", "resolved")]),  # the resolve is the first response
    (F, [declared(F), entry(5240, "U1", "update"), entry(10400, "U1", "resolved")]),
    (G, [declared(G), entry(6060, "U2", "note"), entry(6900, "U2", "resolved")]),
]


def timeline(inc: Incident) -> list[TimelineEntry]:
    return next(t for i, t in CASES if i is inc)


def test_time_to_acknowledge_prefers_pagerduty_then_the_first_human_action() -> None:
    assert acknowledgement(A, timeline(A), BOT) == (300, "pagerduty")
    assert acknowledgement(B, timeline(B), BOT) == (1120, "human")
    assert acknowledgement(C, timeline(C), BOT) == (2600, "human")
    assert acknowledgement(D, timeline(D), BOT) == (3900, "human")
    assert acknowledgement(E, timeline(E), BOT) == (4600, "human")
    nobody = incident(9, "SEV3", 100)
    assert acknowledgement(nobody, [declared(nobody)], BOT) is None
    # the acknowledgement kept on the page counts even without its timeline entry
    page = PageState(incident_key="k", requested_at=100, acked_at=170)
    acked = incident(10, "SEV1", 100, page=page)
    assert acknowledgement(acked, [declared(acked), entry(130, "U1", "update")], BOT) == (
        170,
        "pagerduty",
    )


def test_the_acknowledgement_is_read_by_its_kind_and_old_entries_by_their_wording() -> None:
    paged = incident(11, "SEV1", 0)
    pd_entry = entry(200, None, PAGE_ACKNOWLEDGED, "Acked (any wording)")
    assert acknowledgement(paged, [declared(paged), pd_entry], BOT) == (200, "pagerduty")
    # stored before the kind existed: a "page" entry, known by its sentence
    legacy = entry(250, None, "page", "Acknowledged in PagerDuty by Carol")
    assert acknowledgement(paged, [declared(paged), legacy], BOT) == (250, "pagerduty")
    # other page entries are not acknowledgements, whatever else they say
    other = entry(260, None, "page", "Escalated to level 2: <@U2>")
    assert acknowledgement(paged, [declared(paged), other], BOT) is None


def test_medians_and_p90s_match_the_hand_computed_values() -> None:
    rows = [times(i, t, BOT) for i, t in CASES]
    result = report(rows, severities=["SEV1", "SEV2", "SEV3"], since=0, until=20000)
    sev1, sev2 = result.rows
    assert [r.severity for r in result.rows] == ["SEV1", "SEV2"]  # SEV3 had none
    # SEV1 acks 300, 120, 600 -> median 300, p90 = 300 + 0.8 * (600 - 300) = 540
    assert (sev1.declared, sev1.resolved) == (3, 2)
    assert (sev1.acknowledge.median, sev1.acknowledge.p90) == (300, 540)
    # SEV1 resolves 3600, 7200 -> median 5400, p90 = 3600 + 0.9 * 3600 = 6840
    assert (sev1.resolve.count, sev1.resolve.median, sev1.resolve.p90) == (2, 5400, 6840)
    # SEV2 acks 60, 240, 600, 900 -> median (240 + 600) / 2 = 420, p90 = 600 + 0.7 * 300
    assert (sev2.acknowledge.median, sev2.acknowledge.p90) == (420, pytest.approx(810))
    # SEV2 resolves 600, 900, 1800, 5400 -> median 1350, p90 = 1800 + 0.7 * 3600 = 4320
    assert (sev2.resolve.median, sev2.resolve.p90) == (1350, pytest.approx(4320))
    total = result.total
    assert (total.declared, total.resolved, total.acknowledge.count) == (7, 6, 7)
    # all acks 60 120 240 300 600 600 900 -> median 300, p90 = 600 + 0.4 * 300 = 720
    assert (total.acknowledge.median, total.acknowledge.p90) == (300, pytest.approx(720))
    # all resolves 600 900 1800 3600 5400 7200 -> median 2700, p90 5400 + 0.5 * 1800
    assert (total.resolve.median, total.resolve.p90) == (2700, 6300)
    assert [t.incident_id for t in result.incidents][:2] == [G.id, F.id]  # newest first


def test_percentile_edges() -> None:
    assert percentile([], 0.5) is None
    assert percentile([42.0], 0.9) == 42.0
    assert percentile([10.0, 20.0], 0.5) == 15.0


def test_stats_message_fits_slack_and_names_the_numbers() -> None:
    rows = [times(i, t, BOT) for i, t in CASES]
    many = rows * 10  # more incidents than are listed
    text, blocks = stats_message(
        report(many, severities=["SEV1", "SEV2"], since=0, until=30 * 86400)
    )
    assert check_blocks(blocks) == []
    assert "last 30 days" in text
    shown = str(blocks)
    # SEV1 acknowledge: ten each of 120, 300, 600 s -> median 300, p90 (rank 26.1 of 0-29) 600
    assert "Acknowledge: median 5 min · p90 10 min (n=30)" in shown
    assert "…and 30 more." in shown
    _, empty = stats_message(report([], severities=["SEV1"], since=0, until=7 * 86400))
    assert "No incidents were declared in the last 7 days" in str(empty)


def test_durations_and_offsets_are_exact() -> None:
    assert duration(None) == "—"
    assert duration(45) == "45 s"
    assert duration(17 * 60) == "17 min"
    assert duration(3600 + 23 * 60 + 5) == "1 h 23 min 5 s"
    assert duration(2 * 86400 + 3 * 3600) == "2 d 3 h"
    assert offset(0) == "+0:00:00"
    assert offset(26 * 3600 + 61) == "+26:01:01"
    assert offset(-5) == "-0:00:05"


NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC).timestamp()  # a Wednesday, 10:00 UTC


def nine(day: str) -> float:
    return datetime.fromisoformat(f"{day}T09:00:00+00:00").timestamp()


@pytest.mark.parametrize(
    ("text", "what", "owner", "due", "at"),
    [
        (
            "Add a canary <@U0BOB|bob> 2026-03-09",
            "Add a canary",
            "U0BOB",
            "2026-03-09",
            nine("2026-03-09"),
        ),
        (
            "Add a canary 2026-03-09 <@U0BOB>",
            "Add a canary",
            "U0BOB",
            "2026-03-09",
            nine("2026-03-09"),
        ),
        ("Add a canary by 2026-03-09", "Add a canary", None, "2026-03-09", nine("2026-03-09")),
        ("Write the runbook tomorrow", "Write the runbook", None, "2026-03-05", nine("2026-03-05")),
        ("Write the runbook due fri", "Write the runbook", None, "2026-03-06", nine("2026-03-06")),
        ("Write the runbook wed", "Write the runbook", None, "2026-03-11", nine("2026-03-11")),
        ("Write the runbook in 3d", "Write the runbook", None, "2026-03-07", NOW + 3 * 86400),
        ("Write the runbook in 2 weeks", "Write the runbook", None, "2026-03-18", NOW + 14 * 86400),
        ("Write the runbook in 2s", "Write the runbook", None, "2026-03-04", NOW + 2),
        ("Write the runbook today", "Write the runbook", None, "2026-03-04", None),  # 09:00 passed
        ("Look in the logs", "Look in the logs", None, None, None),
        ("Ask <@U0CAROL|carol> about limits", "Ask @carol about limits", None, None, None),
    ],
)
def test_followup_grammar(
    text: str, what: str, owner: str | None, due: str | None, at: float | None
) -> None:
    parsed = parse_followup(text, now=NOW, remind_at="09:00")
    assert (parsed.text, parsed.owner) == (what, owner)
    got = (parsed.due.date, parsed.due.at) if parsed.due else (None, None)
    assert got == (due, at)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Fix it 2020-01-01", "in the past"),
        ("Fix it 2026-02-30", "not a date"),
        ("<@U0BOB> tomorrow", "Say what needs doing"),
        ("", "Say what needs doing"),
    ],
)
def test_followup_grammar_refuses(text: str, problem: str) -> None:
    with pytest.raises(DueDateError, match=problem):
        parse_followup(text, now=NOW)


def test_markdown_helpers() -> None:
    names = {"U0BOB": "@bob"}
    assert plain_markdown("<@U0BOB> see <#C123|general> <https://x.io/a|the graph>", names) == (
        "@bob see #general [the graph](https://x.io/a)"
    )
    assert plain_markdown("<!date^1^{time}|14:00 UTC> &lt;b&gt; <!here>", names) == (
        "14:00 UTC <b> @here"
    )
    assert cell("a | b\nc") == "a \\| b<br>c"


def test_captured_messages_read_as_one_line() -> None:
    message = {
        "ts": "1700000000.000100",
        "user": "U0CAROL",
        "text": "see <https://g.io|graph>\n&gt; 5%",
    }
    # mrkdwn for the timeline: the link shown with its URL, the typed > still escaped
    assert message_text(message) == "see graph (https://g.io) &gt; 5%"
    pinned = pinned_entry(message, by="U0ALICE")
    assert (pinned.at, pinned.actor, pinned.kind) == (1700000000.0001, "U0CAROL", "pinned")
    assert pinned.text == "Pinned: “see graph (https://g.io) &gt; 5%” (pinned by <@U0ALICE>)"
    assert pinned_entry(message, by="U0CAROL").text == "Pinned: “see graph (https://g.io) &gt; 5%”"
    assert message_text({"text": "", "files": [{"title": "graph.png"}]}) == "[file: graph.png]"
    # a captured message keeps its author's real mentions, never a broadcast or a group
    loud = {"text": "<!channel> ask <@U0BOB> or <!subteam^S1|@dba>, not &lt;@U0EVE&gt;"}
    assert message_text(loud) == "@channel ask <@U0BOB> or @dba, not &lt;@U0EVE&gt;"


def test_blocks_fit_slack() -> None:
    inc = incident(1, "SEV1", 0, 100, roles={"commander": "U0BOB"}, channel_id="C1")
    state = PostmortemState(incident_id=inc.id, drafts=2)
    for _, blocks in (
        pui.draft_posted(inc, state),
        pui.draft_posted(inc, state.model_copy(update={"done_at": 5.0, "done_by": "U0BOB"})),
        pui.marked_done("U0BOB"),
        pui.reminder(inc, overdue_for=86400),
    ):
        assert check_blocks(blocks) == []
    followups = [
        FollowUp(
            id=f"{inc.id}.{n}",
            incident_id=inc.id,
            number=n,
            text=f"Action {n} " + "x" * 600,
            owner="U0BOB",
            due="2026-03-09",
            created_by="U0ALICE",
            created_at=0,
        )
        for n in range(1, 60)
    ]
    text, blocks = fui.followup_list(followups, inc)
    assert check_blocks(blocks) == [] and text.startswith("59 open follow-ups")
    assert "…and 14 more." in str(blocks)
    assert check_blocks(fui.followup_list(followups, None)[1]) == []
    assert check_blocks(fui.reminder(followups[0], inc)[1]) == []
    assert check_blocks(fui.recorded(followups[0])[1]) == []
    assert fui.parse_list_value(fui.list_value(followups[0], inc.id)) == (f"{inc.id}.1", inc.id)


async def test_stats_skip_drills_and_private_incidents_keep_their_secrets() -> None:
    import fakeredis

    from bot.core.config import IncidentConfig
    from bot.core.metrics import Metrics
    from bot.core.models import DrillInfo
    from bot.core.schedule import Scheduler
    from bot.core.store import Store
    from bot.followups import FollowUps
    from bot.stats import Stats

    store = Store(fakeredis.FakeAsyncRedis(decode_responses=True))
    real = incident(1, "SEV1", 1000, 1600)
    secret = incident(2, "SEV1", 2000, 2300, private=True, title="Leaked API keys")
    drill = incident(
        3,
        "SEV1",
        3000,
        3100,
        drill=DrillInfo(scenario="db", time_limit=600, started_by="U1"),
    )
    for inc in (real, secret, drill):
        await store.create(inc, declared(inc))
    config = IncidentConfig()

    class NoSlack:
        async def bots(self) -> frozenset[str]:
            return frozenset({"UBOT"})

    metrics = Metrics()
    stats = Stats(store, NoSlack(), config, metrics, clock=lambda: 5000.0)  # type: ignore[arg-type]
    result = await stats.report(10_000)
    assert [(t.incident_id, t.title) for t in result.incidents] == [
        (secret.id, f"Private incident {secret.id}"),
        (real.id, "Incident 1"),
    ]
    assert result.total.resolve.median == 450  # (600 + 300) / 2: the drill's 100 s is out
    await stats.on_incident_event("resolved", drill)
    assert (
        metrics.registry.get_sample_value(
            "incident_bot_time_to_resolve_seconds_count", {"severity": "SEV1"}
        )
        is None
    )

    followups = FollowUps(store, NoSlack(), config, Scheduler(store), metrics)  # type: ignore[arg-type]
    for inc in (real, secret):
        await store.add_followup(
            FollowUp(
                id="",
                incident_id=inc.id,
                number=0,
                text=f"Fix {inc.title}",
                owner="U0BOB",
                created_by="U0BOB",
                created_at=0,
            )
        )
    everywhere = await followups.open_for(None)
    assert [f.text for f in everywhere] == ["Fix Incident 1", "[private]"]
    inside = await followups.open_for(secret)
    assert [f.text for f in inside] == ["Fix Leaked API keys"]


def test_the_timeline_shows_a_late_pin_at_its_own_time() -> None:
    from blocks.incident import timeline as timeline_message

    inc = incident(1, "SEV3", 0)
    entries = [
        declared(inc),
        entry(600, "U1", "update", "Status update: reindexing"),
        entry(300, "U2", "pinned", "Pinned: “graph”"),  # captured after the update
    ]
    _, blocks = timeline_message(inc, entries)
    shown = blocks[1]["text"]["text"]
    assert shown.index("Declared") < shown.index("Pinned") < shown.index("reindexing")


def test_slack_event_times_compare_exactly_in_microseconds() -> None:
    assert event_micros("1712345678.000002", 0) - event_micros("1712345678.000001", 0) == 1
    assert event_micros("1712345678.5", 0) == 1712345678_500000
    assert event_micros("1712345678", 0) == 1712345678_000000  # the envelope's event_time
    assert event_micros(None, 10.25) == 10_250000
    assert event_micros("not a time", 10.0) == 10_000000


async def test_the_earliest_pin_keeps_the_credit_whatever_order_it_is_stored_in() -> None:
    store = Store(fakeredis.FakeAsyncRedis(decode_responses=True))
    message = {"ts": "1712345600.000100", "user": "U0DAVE", "text": "Index rebuild at 14:02"}

    async def pin(by: str, at: int) -> str | None:
        entry = pinned_entry(message, by=by)
        return await store.capture("inc-1", message["ts"], entry, at=at, by=by)

    assert await pin("U0ALICE", 1712345678_000002) == "added"
    assert await pin("U0BOB", 1712345678_000001) == "moved"  # earlier, handled later
    assert await pin("U0CAROL", 1712345678_000003) is None  # later: nothing changes
    assert await pin("U0BOB", 1712345678_000000) is None  # Bob again, earlier: still Bob
    [entry] = await store.timeline("inc-1")
    assert entry.text.endswith("(pinned by <@U0BOB>)") and entry.actor == "U0DAVE"

"""Game-day drills: the shipped scenarios, validation messages, the report's figures from a
timeline, the alert a step sends, and the drill's Block Kit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blocks.drills import (
    ScenarioRow,
    drill_message,
    drill_notice,
    drill_report,
    scenario_list,
)
from blocks.incident import announcement, incident_list, summary_card, topic
from blocks.limits import check_blocks
from bot.alerts import DRILL_LABEL, parse_alertmanager
from bot.core import redaction
from bot.core.config import IncidentConfig
from bot.core.durations import format_duration
from bot.core.models import DrillInfo, Incident, TimelineEntry
from bot.drills import alertmanager_body, build_report, phase_finishes
from bot.drills.scenarios import ScenarioError, ScriptAlert, default_drills_dir, load_scenarios
from bot.runbooks.library import Runbook, default_runbooks_dir, load_runbooks

RUNBOOKS = load_runbooks(default_runbooks_dir())
CONFIG = IncidentConfig()
T0 = 1_800_000_000.0

RUNBOOK = Runbook.model_validate(
    {
        "id": "drill-test",
        "title": "Drill test",
        "phases": [
            {"id": "immediate", "steps": [{"text": "Take command"}, {"text": "Look"}]},
            {"id": "investigation", "steps": [{"text": "Find it"}]},
        ],
    }
)


def drill_incident(**changes: object) -> Incident:
    info = DrillInfo(
        scenario="latency-spike",
        time_limit=1800,
        started_by="U0ALICE",
        targets={"acknowledge": 300, "first_update": 600, "immediate": 60, "resolve": 1800},
    )
    base = Incident(
        id="20270115-4",
        title="Latency spike on search",
        severity="SEV2",
        declared_by="U0ALICE",
        declared_at=T0,
        source="drill",
        runbook="drill-test",
        channel_id="C0ROOM",
        channel_name="drill-20270115-4-latency-spike-on-search",
        drill=info,
    )
    return base.model_copy(update=changes)


def entry(at: float, kind: str, text: str, actor: str | None = None) -> TimelineEntry:
    return TimelineEntry(at=T0 + at, actor=actor, kind=kind, text=text)


def step(at: float, step_id: str, verb: str, user: str = "U0BOB") -> TimelineEntry:
    return entry(at, "runbook_step", f"Step {step_id} {verb}: something (drill-test)", user)


# -- scenario files ----------------------------------------------------------------------------


def test_the_shipped_scenarios_are_valid_and_watchable() -> None:
    scenarios = load_scenarios(default_drills_dir(), runbooks=RUNBOOKS)
    assert set(scenarios) == {"partner-api-down", "database-unavailable", "latency-spike"}
    for scenario in scenarios.values():
        assert scenario.runbook in RUNBOOKS
        assert scenario.duration == 1800  # the procedures' 30-minute scenarios
        # the script plays within a few minutes, so a demo shows all of it
        assert max(s.at.total_seconds() for s in scenario.script) <= 6 * 60
        assert any(s.alert for s in scenario.script) and any(s.message for s in scenario.script)
        assert {"acknowledge", "first_update", "resolve"} <= set(scenario.targets)
    # the sandbox's demo: the whole script within four minutes
    spike = scenarios["latency-spike"]
    assert max(s.at.total_seconds() for s in spike.script) < 4 * 60


def problems(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / f"{name}.yaml").write_text(text)
    with pytest.raises(ScenarioError) as err:
        load_scenarios(tmp_path, runbooks=RUNBOOKS)
    return str(err.value)


GOOD = """\
title: A test drill
runbook: high-latency
time_limit: 1m
targets: {acknowledge: 30s}
script:
  - at: 10s
    message: hello
"""


def test_a_good_scenario_loads(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(GOOD)
    [scenario] = load_scenarios(tmp_path, runbooks=RUNBOOKS).values()
    assert scenario.id == "t" and scenario.severity == "SEV2"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("message: hello", "mesage: hello"), ":7: script[0].mesage: unknown key"),
        (
            GOOD.replace("    message: hello", "    message: hello\n    alert: {alertname: X}"),
            ":6: script[0]: a step has either alert: or message: (one of them)",
        ),
        (
            GOOD.replace("at: 10s", "at: 2m"),
            ":6: script[0].at: 2 min is not before the time limit (1 min)",
        ),
        (GOOD.replace("at: 10s", "at: soon"), ":6: script[0].at: 'soon' is not a duration"),
        (
            GOOD.replace("    message: hello", "    alert: {alertname: X, labels: {bad-name: 1}}"),
            ":7: script[0].alert.labels: 'bad-name' is not a label name",
        ),
        (
            GOOD.replace(
                "    message: hello", f"    alert: {{alertname: X, labels: {{{DRILL_LABEL}: a}}}}"
            ),
            "is set by the bot; leave it out",
        ),
        (GOOD.replace("runbook: high-latency", "runbook: nope"), ":2: runbook: no runbook 'nope'"),
        (
            GOOD.replace("{acknowledge: 30s}", "{containment: 30s}"),
            ":4: targets: unknown target 'containment'",
        ),
        (
            GOOD.replace("{acknowledge: 30s}", "{symptoms: 30s}").replace(
                "runbook: high-latency\n", ""
            ),
            "targets.symptoms: a phase target needs a runbook",
        ),
        (GOOD + "severity: bad\n", ":8: severity: severity 'bad' must be like SEV2"),
        ("id: other\n" + GOOD, "id 'other' does not match the file name (t)"),
        (GOOD + "  - at: 5s\n", ":8: script[1]: a step has either alert: or message:"),
    ],
)
def test_scenario_problems_are_precise(tmp_path: Path, text: str, expected: str) -> None:
    message = problems(tmp_path, "t", text)
    assert f"{tmp_path / 't.yaml'}" in message
    assert expected in message, message


def test_a_phase_target_the_runbook_lacks(tmp_path: Path) -> None:
    text = GOOD.replace("{acknowledge: 30s}", "{validation: 30s, post_incident: 1m}")
    (tmp_path / "t.yaml").write_text(text)
    load_scenarios(tmp_path, runbooks=RUNBOOKS)  # high-latency has both phases
    runbooks = {"high-latency": RUNBOOK.model_copy(update={"id": "high-latency"})}
    with pytest.raises(ScenarioError, match=r"targets\.validation: runbook high-latency has no"):
        load_scenarios(tmp_path, runbooks=runbooks)


def test_every_problem_of_every_file_at_once(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD.replace("at: 10s", "at: 5m"))
    (tmp_path / "b.yaml").write_text("title: [unclosed")
    message = problems(tmp_path, "c", GOOD.replace("runbook: high-latency", "runbook: nope"))
    assert message.startswith("3 drill scenario problem(s)")


# -- the report ------------------------------------------------------------------------------


def test_phases_finish_when_every_step_is_done_or_skipped_and_undo_reopens() -> None:
    entries = [
        step(10, "p1-s1", "taken"),
        step(20, "p1-s1", "done"),
        step(30, "p1-s2", "skipped"),  # immediate finished at 30
        step(40, "p1-s2", "reopened"),  # ... and not any more
        step(50, "p2-s1", "done"),  # investigation finished at 50
        step(60, "p1-s2", "done"),  # immediate finished again at 60
        entry(70, "runbook_step", "Step p1-s1 reopened: x (other-runbook)", "U0BOB"),
    ]
    finishes = {phase.id: at for phase, at in phase_finishes(RUNBOOK, entries)}
    assert finishes == {"immediate": T0 + 60, "investigation": T0 + 50}
    assert {p.id: a for p, a in phase_finishes(RUNBOOK, entries[:2])} == {
        "immediate": None,
        "investigation": None,
    }


def test_report_figures_come_from_the_timeline() -> None:
    incident = drill_incident(status="resolved", resolved_at=T0 + 200)
    entries = [
        entry(0, "declared", "Declared SEV2 (High): Latency spike on search", "U0ALICE"),
        entry(0.5, "runbook", "Runbook posted: Drill test (drill-test)"),
        entry(10, "drill", "Drill script: alert HighLatency firing"),
        entry(12, "status", "Status investigating → monitoring", "UBOT"),  # the bot: no ack
        entry(42, "drill_ack", "Acknowledged the drill page", "U0BOB"),
        step(50, "p1-s1", "done"),
        step(75, "p1-s2", "done"),
        entry(90, "update", "Status update: looking", "U0BOB"),
        entry(200, "resolved", "Resolved", "U0BOB"),
    ]
    report = build_report(incident, entries, RUNBOOK, bots=frozenset({"UBOT"}), now=T0 + 999)
    figures = {m.name: (m.seconds, m.target, m.met, m.how) for m in report.measures}
    assert figures["Acknowledge"] == (42, 300, True, "drill page acknowledged")
    assert figures["First update"] == (90, 600, True, "")
    assert figures[RUNBOOK.phases[0].title] == (75, 60, False, "")
    assert figures[RUNBOOK.phases[1].title] == (None, None, None, "")
    assert figures["Resolve"] == (200, 1800, True, "")
    assert report.ended_by == "resolve" and report.ended_at == T0 + 200
    assert report.timeline == entries


def test_a_drill_ended_by_its_time_limit_is_not_resolved_in_time() -> None:
    info = drill_incident().drill
    assert info is not None
    incident = drill_incident(
        status="resolved",
        resolved_at=T0 + 1800,
        drill=info.model_copy(update={"ended_by": "time_limit"}),
    )
    entries = [entry(0, "declared", "Declared", "U0ALICE"), entry(1800, "resolved", "Resolved")]
    report = build_report(incident, entries, None, bots=frozenset(), now=T0 + 1900)
    resolve = report.measures[-1]
    assert (resolve.seconds, resolve.met, resolve.how) == (None, False, "time limit reached")
    assert report.measures[0].seconds is None  # nobody did anything
    text, blocks = drill_report(report)
    assert "time limit reached" in text and check_blocks(blocks) == []


def test_a_pagerduty_acknowledgement_counts_first() -> None:
    incident = drill_incident()
    entries = [
        entry(0, "declared", "Declared", "U0ALICE"),
        entry(30, "page", "Acknowledged in PagerDuty by Bob Example"),
        entry(40, "update", "Status update: on it", "U0BOB"),
    ]
    report = build_report(incident, entries, None, bots=frozenset(), now=T0 + 60)
    assert (report.measures[0].seconds, report.measures[0].how) == (30, "in PagerDuty")
    assert report.measures[-1].seconds is None  # still open


# -- what a step sends -------------------------------------------------------------------------


def test_an_alert_step_is_a_valid_alertmanager_payload_of_its_own_group() -> None:
    alert = ScriptAlert(
        alertname="HighLatency", labels={"service": "search"}, annotations={"summary": "slow"}
    )
    body = alertmanager_body("20270115-4", alert, now=T0)
    batch = parse_alertmanager(body, now=T0)
    [group] = batch.groups
    assert group.labels == {DRILL_LABEL: "20270115-4"}
    assert group.key == "HighLatency|20270115-4"
    [a] = group.alerts
    assert a.status == "firing" and a.labels["service"] == "search"
    assert a.annotations == {"summary": "slow"}
    resolved = ScriptAlert(alertname="HighLatency", status="resolved", labels={"service": "search"})
    [again] = parse_alertmanager(alertmanager_body("20270115-4", resolved, now=T0), now=T0).groups
    # the same alert (same fingerprint), now resolved
    assert again.alerts[0].fingerprint == a.fingerprint and again.alerts[0].status == "resolved"
    assert json.loads(body)["version"] == "4"


# -- Block Kit ---------------------------------------------------------------------------------


def test_a_drill_is_marked_on_every_surface() -> None:
    incident = drill_incident()
    _, card = summary_card(incident, CONFIG)
    assert card[0]["text"]["text"].startswith("[DRILL] ")
    assert "*DRILL*" in card[1]["text"]["text"]  # the banner leads the card
    outside = redaction.outside(incident, CONFIG)
    assert outside.title == "[DRILL] Latency spike on search"
    assert redaction.outside(outside, CONFIG).title == outside.title  # tagged once
    text, blocks = announcement(outside, CONFIG)
    assert "[DRILL]" in text and blocks[0]["text"]["text"].startswith("[DRILL] Incident")
    assert "[DRILL] [DRILL]" not in str(blocks)
    text, _ = announcement(incident, CONFIG)  # even without the redaction step
    assert "[DRILL] Latency" in text
    assert topic(incident, CONFIG).startswith("[DRILL] ")
    assert "[DRILL] Latency" in str(incident_list([incident], CONFIG)[1])
    real = incident.model_copy(update={"drill": None})
    assert "DRILL" not in str(summary_card(real, CONFIG)) + str(announcement(real, CONFIG))
    assert redaction.outside(real, CONFIG) is real


def test_the_drill_blocks_fit_slack() -> None:
    incident = drill_incident()
    assert incident.drill is not None
    for service, pages in ((None, True), ("PDRILL", True), ("PDRILL", False)):
        text, blocks = drill_notice(
            incident, incident.drill, steps=6, drill_service=service, pages=pages
        )
        assert check_blocks(blocks) == []
        assert ("no real page sent" in text.lower()) == (not (service and pages))
        assert any(b["type"] == "actions" for b in blocks) == (not (service and pages))
    rows = [ScenarioRow(f"s-{i}", "T" * 120, "SEV1", 1800, 7, "x" * 1000) for i in range(20)]
    assert check_blocks(scenario_list(rows, fast=10)[1]) == []
    assert check_blocks(drill_message("y" * 2000, at=75)[1]) == []
    assert "`+1:15`" in drill_message("hi", at=75)[1][0]["text"]["text"]
    incident = drill_incident(status="resolved", resolved_at=T0 + 4000)
    entries = [entry(i, "note", "z" * 400, "U0BOB") for i in range(400)]
    report = build_report(incident, entries, RUNBOOK, bots=frozenset(), now=T0)
    text, blocks = drill_report(report)
    assert check_blocks(blocks) == [] and len(blocks) <= 50
    assert "Timeline truncated" in str(blocks)


def test_span_reads_like_a_stopwatch() -> None:
    assert [format_duration(s) for s in (0, 4.6, 60, 125, 3600, 3725)] == [
        "0 s",
        "5 s",
        "1 min",
        "2 min 5 s",
        "1 h",
        "1 h 2 min 5 s",
    ]

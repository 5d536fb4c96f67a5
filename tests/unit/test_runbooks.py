"""Runbooks: the shipped files, loading and its error messages, ranking, and their Block Kit."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blocks.limits import check_blocks
from blocks.runbooks import (
    ACTION_DONE,
    ACTION_POST,
    ACTION_SKIP,
    ACTION_TAKE,
    ACTION_UNDO,
    action_pattern,
    parse_list_value,
    parse_step_value,
    progress,
    runbook_list,
    runbook_messages,
    step_message_index,
    step_value,
)
from bot.runbooks.library import (
    MAX_COMMAND,
    MAX_TEXT,
    PHASE_TITLES,
    Runbook,
    RunbookError,
    StepState,
    check_runbooks,
    default_runbooks_dir,
    load_runbook_file,
    load_runbooks,
    rank_runbooks,
)

SHIPPED_IDS = {
    "database-down",
    "external-integration-down",
    "redis-down",
    "high-latency",
    "high-error-rate",
    "high-traffic",
    "memory-leak",
    "disk-space",
    "deployment-failure",
    "service-down",
    "messaging-provider-outage",
    "security-incident",
}
ALERT_MAP = {
    "ServiceDown": "service-down",
    "HighErrorRate": "high-error-rate",
    "DatabaseConnectionFailures": "database-down",
    "DatabaseDown": "database-down",
    "HighLatency": "high-latency",
    "SlowResponse": "high-latency",
    "HighMemory": "memory-leak",
    "RedisConnectionIssues": "redis-down",
    "RedisDown": "redis-down",
    "ExternalIntegrationCircuitOpen": "external-integration-down",
    "HighCPU": "high-traffic",
    "HighTraffic": "high-traffic",
    "DiskSpaceLow": "disk-space",
    "LowCacheHitRate": "redis-down",
}
LONG_NAME = "Bartholomew <the> & Very-Long-Named On-Call Engineer " * 12
EPOCH = 1_700_000_000


@pytest.fixture(scope="module")
def shipped() -> dict[str, Runbook]:
    return load_runbooks(default_runbooks_dir())


def make_runbook(phases: dict[str, int], *, text: str = "Do the thing", **extra: Any) -> Runbook:
    return Runbook.model_validate(
        {
            "id": "synthetic",
            "title": "Synthetic runbook",
            "phases": [
                {"id": pid, "steps": [{"text": f"{text} {i}", "command": "ls"} for i in range(n)]}
                for pid, n in phases.items()
            ],
            **extra,
        }
    )


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


GOOD = """\
id: {id}
title: {title}
alerts: [{alert}]
phases:
  - id: symptoms
    steps:
      - text: It is broken
  - id: recovery
    steps:
      - text: Fix it
        command: kubectl rollout restart deploy/<app>
"""


def good(rid: str, title: str = "Something broke", alert: str = "Whatever") -> str:
    return GOOD.format(id=rid, title=title, alert=alert)


def step_ids_in(blocks: list[dict[str, Any]]) -> list[str]:
    return [
        b["block_id"].removeprefix("rb-step-")
        for b in blocks
        if b.get("block_id", "").startswith("rb-step-")
    ]


def buttons(blocks: list[dict[str, Any]], step_id: str) -> list[str]:
    block = next(b for b in blocks if b.get("block_id") == f"rb-act-{step_id}")
    return [e["text"]["text"] for e in block["elements"]]


# -- the shipped runbooks -------------------------------------------------------------


def test_every_shipped_runbook_is_there_and_well_formed(shipped: dict[str, Runbook]) -> None:
    assert set(shipped) == SHIPPED_IDS
    for rid, book in shipped.items():
        assert (default_runbooks_dir() / f"{rid}.yaml").is_file()
        assert 12 <= len(book.steps()) <= 35, rid
        assert [p.id for p in book.phases] == list(PHASE_TITLES), rid
        assert book.summary and book.stakeholders and book.rto and book.escalate, rid
        assert any(s.command for s in book.steps()), rid


def test_alert_names_map_to_the_right_runbook(shipped: dict[str, Runbook]) -> None:
    for alert, rid in ALERT_MAP.items():
        assert alert in shipped[rid].alerts, (alert, rid)
        ranked = rank_runbooks(shipped.values(), alertname=alert, title="")
        assert ranked[0].id == rid


def test_shipped_runbooks_are_generic() -> None:
    # The reference procedures came from real teams; none of their names may leak in.
    banned = re.compile(r"agente|hotel|qloapps|flyctl|fly\.dev|whatsapp|\bmeta\b", re.I)
    for file in default_runbooks_dir().glob("*.yaml"):
        assert not banned.search(file.read_text()), file


def all_states(book: Runbook) -> dict[str, dict[str, StepState]]:
    steps = book.steps()
    return {
        "open": {},
        "done, long names": {
            s.id: StepState(status="done", by=LONG_NAME, at=EPOCH + i) for i, s in enumerate(steps)
        },
        "skipped": {s.id: StepState(status="skipped", by="U0123ABCD", at=EPOCH) for s in steps},
        "taken": {s.id: StepState(status="taken", by=LONG_NAME, at=EPOCH) for s in steps},
        "mixed": {
            s.id: StepState(
                status=("open", "taken", "done", "skipped")[i % 4], by="W0AB12", at=EPOCH
            )
            for i, s in enumerate(steps)
        },
    }


def test_shipped_runbooks_render_within_slack_limits_in_every_state(
    shipped: dict[str, Runbook],
) -> None:
    for book in shipped.values():
        counts = set()
        for label, states in all_states(book).items():
            messages = runbook_messages(book, states, run_id="INC-20240101-1")
            counts.add(len(messages))
            for m, blocks in enumerate(messages):
                assert check_blocks(blocks) == [], (book.id, label, m)
            rendered = [sid for blocks in messages for sid in step_ids_in(blocks)]
            assert rendered == [s.id for s in book.steps()], (book.id, label)
        assert len(counts) == 1, f"{book.id}: message count depends on state"


def test_step_buttons_follow_the_step_state(shipped: dict[str, Runbook]) -> None:
    book = shipped["database-down"]
    first, second, third, fourth = (s.id for s in book.steps()[:4])
    states = {
        first: StepState(status="done", by="U0123ABCD", at=EPOCH),
        second: StepState(status="skipped", by="U0123ABCD", at=EPOCH),
        third: StepState(status="taken", by="U0999ZZZZ", at=EPOCH),
    }
    blocks = runbook_messages(book, states, run_id="INC-1")[0]
    assert buttons(blocks, first) == ["Undo"]
    assert buttons(blocks, second) == ["Undo"]
    assert buttons(blocks, third) == ["Done", "Skip", "I'm on it"]
    assert buttons(blocks, fourth) == ["Done", "Skip", "I'm on it"]
    text = {b["block_id"]: b["text"]["text"] for b in blocks if "text" in b}
    assert (
        f"Done by <@U0123ABCD> · <!date^{EPOCH}^{{date_short_pretty}} {{time}}|"
        in (text[f"rb-step-{first}"])
    )
    assert (
        "~" in text[f"rb-step-{second}"]
        and "Skipped by <@U0123ABCD>" in (text[f"rb-step-{second}"])
    )
    assert "<@U0999ZZZZ> is on it" in text[f"rb-step-{third}"]
    assert "*2 of 25 done* (1 skipped)" in blocks[1]["elements"][0]["text"]
    # user text is escaped, so placeholders never turn into Slack markup
    assert "&lt;service-host&gt;" in text[f"rb-step-{first}"]


def test_button_values_and_action_ids_carry_the_step(shipped: dict[str, Runbook]) -> None:
    book = shipped["redis-down"]
    for blocks in runbook_messages(book, {}, run_id="INC-7"):
        for block in blocks:
            for el in block.get("elements", []):
                if el.get("type") != "button":
                    continue
                run_id, step_id = parse_step_value(el["value"])
                assert run_id == "INC-7"
                assert el["action_id"].endswith(f":{step_id}")
                assert any(
                    action_pattern(a).match(el["action_id"])
                    for a in (ACTION_DONE, ACTION_SKIP, ACTION_TAKE)
                )
    assert not action_pattern(ACTION_DONE).match("runbook_step_done_more:x")
    assert action_pattern(ACTION_UNDO).match(ACTION_UNDO)


@given(
    run_id=st.text(min_size=1, max_size=60),
    step_id=st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,20}", fullmatch=True),
)
def test_step_value_round_trips(run_id: str, step_id: str) -> None:
    assert parse_step_value(step_value(run_id, step_id)) == (run_id, step_id)


@pytest.mark.parametrize("value", ["", "no-separator", "|p1-s1", "INC-1|"])
def test_parse_step_value_rejects_garbage(value: str) -> None:
    with pytest.raises(ValueError):
        parse_step_value(value)


# -- splitting ------------------------------------------------------------------------


def test_a_120_step_runbook_splits_cleanly_across_messages() -> None:
    sizes = {"symptoms": 5, "immediate": 10, "investigation": 40, "mitigation": 30}
    sizes |= {"recovery": 20, "validation": 10, "post_incident": 5}
    book = make_runbook(sizes)
    assert len(book.steps()) == 120
    states = {s.id: StepState(status="done", by=LONG_NAME, at=EPOCH) for s in book.steps()[::3]}
    messages = runbook_messages(book, states, run_id="INC-1")
    assert len(messages) >= 5  # 120 steps x 2 blocks cannot fit in fewer
    assert messages[0][0]["type"] == "header"
    for m, blocks in enumerate(messages):
        assert len(blocks) <= 50
        assert check_blocks(blocks) == []
        assert blocks[-1]["type"] == "actions", f"message {m} ends mid-step"
        if m:
            assert f"part {m + 1} of {len(messages)}" in blocks[0]["elements"][0]["text"]
    rendered = [sid for blocks in messages for sid in step_ids_in(blocks)]
    assert rendered == [s.id for s in book.steps()]
    for step in book.steps():
        assert step.id in step_ids_in(messages[step_message_index(book, step.id)])
    # the 40-step phase had to be split: its second part says it continues
    phase_titles = [
        b["text"]["text"]
        for blocks in messages
        for b in blocks
        if b.get("block_id", "").startswith("rb-phase-")
    ]
    assert "*Investigation* (continued)" in phase_titles


def test_small_phases_are_not_split_when_they_fit_in_the_next_message() -> None:
    book = make_runbook({"symptoms": 20, "investigation": 10})
    messages = runbook_messages(book, {}, run_id="r")
    assert [len(step_ids_in(blocks)) for blocks in messages] == [20, 10]


@st.composite
def runbooks_and_states(draw: st.DrawFn) -> tuple[Runbook, dict[str, StepState]]:
    phase_ids = draw(st.lists(st.sampled_from(list(PHASE_TITLES)), min_size=1, unique=True))
    long_text = draw(st.booleans())
    phases = []
    for pid in phase_ids:
        n = draw(st.integers(1, 30))
        steps = [
            {
                "text": ("<x> & " * 200)[:MAX_TEXT] if long_text else f"step {i}",
                "command": ("<db-host> " * 200)[:MAX_COMMAND] if long_text else None,
                "link": "https://example.com/" + "a" * 470 if long_text else None,
                "owner": "tech_lead",
            }
            for i in range(n)
        ]
        phases.append({"id": pid, "title": "T" * 120, "steps": steps})
    book = Runbook.model_validate(
        {"id": "gen", "title": "G" * 120, "summary": "s" * 3000, "phases": phases}
    )
    status = st.sampled_from(["open", "taken", "done", "skipped"])
    states = {
        s.id: StepState(status=draw(status), by=draw(st.text(max_size=300)) or None, at=EPOCH)
        for s in book.steps()
    }
    return book, states


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runbooks_and_states())
def test_any_runbook_in_any_state_renders_within_limits(
    case: tuple[Runbook, dict[str, StepState]],
) -> None:
    book, states = case
    messages = runbook_messages(book, states, run_id="INC-1")
    assert len(messages) == len(runbook_messages(book, {}, run_id="INC-1"))
    for blocks in messages:
        assert check_blocks(blocks) == []
    assert [sid for blocks in messages for sid in step_ids_in(blocks)] == [
        s.id for s in book.steps()
    ]
    done, total = progress(book, states)
    assert total == len(book.steps())
    assert done == sum(s.status in ("done", "skipped") for s in states.values())


# -- the model ------------------------------------------------------------------------


def test_step_ids_default_to_their_position_and_explicit_ids_stay() -> None:
    book = Runbook.model_validate(
        {
            "id": "x",
            "title": "X",
            "phases": [
                {"id": "symptoms", "steps": [{"text": "a"}, {"text": "b", "id": "check-b"}]},
                {"id": "recovery", "steps": [{"text": "c"}]},
            ],
        }
    )
    assert [s.id for s in book.steps()] == ["p1-s1", "check-b", "p2-s1"]
    assert book.phases[0].title == "Symptoms"


def test_severity_aliases_durations_and_escalation() -> None:
    book = make_runbook(
        {"symptoms": 1},
        severity="P0",
        rto="2h",
        escalate={"after": "10m", "to": "tech_lead", "note": "lead"},
    )
    assert book.severity == "SEV1"
    assert book.rto == timedelta(hours=2)
    assert book.escalate is not None
    assert book.escalate.after == timedelta(minutes=10)
    assert book.escalate.to == ["tech_lead"]
    both = make_runbook({"symptoms": 1}, escalate={"after": "30s", "to": ["U0123ABCD", "S0456EF"]})
    assert both.escalate is not None and both.escalate.after == timedelta(seconds=30)


# -- loading errors -------------------------------------------------------------------


def load_error(tmp_path: Path, text: str, name: str = "broken.yaml") -> str:
    path = write(tmp_path, name, text)
    with pytest.raises(RunbookError) as err:
        load_runbook_file(path)
    return str(err.value)


def test_missing_field_names_file_line_step_and_field(tmp_path: Path) -> None:
    text = good("broken").replace("      - text: Fix it\n", "      - owner: dba\n")
    message = load_error(tmp_path, text)
    assert message == (
        f"{tmp_path}/broken.yaml:10: phases[1].steps[0] (p2-s1): text: Field required"
    )


def test_bad_phase_id(tmp_path: Path) -> None:
    message = load_error(tmp_path, good("broken").replace("id: recovery", "id: recover"))
    assert message.startswith(f"{tmp_path}/broken.yaml:8: phases[1]: id: Input should be")
    assert "'post_incident'" in message
    assert message.count("\n") == 0  # one problem, one line (no knock-on title error)


def test_duplicate_step_id_points_at_the_second_use(tmp_path: Path) -> None:
    text = good("broken").replace("- text: Fix it", "- id: same\n        text: Fix it")
    text = text.replace("- text: It is broken", "- id: same\n        text: It is broken")
    message = load_error(tmp_path, text)
    assert message == (
        f"{tmp_path}/broken.yaml:11: phases[1].steps[0] (same): "
        "duplicate step id, already used by phases[0].steps[0]"
    )


@pytest.mark.parametrize("value", ["10", "ten minutes", "0m", "-5m", "10 parsecs"])
def test_bad_duration(tmp_path: Path, value: str) -> None:
    message = load_error(tmp_path, good("broken") + f"escalate: {{after: '{value}', to: [dba]}}\n")
    assert f"{tmp_path}/broken.yaml:12: escalate.after:" in message
    assert "duration" in message


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    message = load_error(tmp_path, good("broken").replace("alerts: [Whatever]", "alerts: [x"))
    assert re.match(rf"^{re.escape(str(tmp_path))}/broken.yaml:\d+:\d+: not valid YAML: ", message)


def test_unknown_keys_id_mismatch_and_bad_values(tmp_path: Path) -> None:
    typo = good("broken").replace("command:", "comand:")
    assert "steps[0] (p2-s1): comand: unknown key" in load_error(tmp_path, typo)
    assert "does not match the file name" in load_error(tmp_path, good("other"))
    assert "severity: severity 'SEV9'" in load_error(tmp_path, good("broken") + "severity: SEV9\n")
    link = good("broken").replace("command: kubectl", "link: not a url\n        command: kubectl")
    assert "(p2-s1): link: 'not a url' is not an http(s) URL" in load_error(tmp_path, link)
    empty = good("broken").replace("It is broken", "'  '")
    assert "(p1-s1): text: must not be empty" in load_error(tmp_path, empty)
    assert "top level must be a mapping" in load_error(tmp_path, "- just\n- a list\n")


def test_a_runbooks_severity_is_one_the_config_names(tmp_path: Path) -> None:
    """One rule (bot/core/severity.py): the configured severities are the valid ones, by name or
    by rank (SEVn, Pn-1), in a runbook as in the config and the commands."""
    path = write(tmp_path, "broken.yaml", good("broken") + "severity: SEV5\n")
    with pytest.raises(RunbookError, match=r"severity 'SEV5' must be like SEV2: one of SEV1"):
        load_runbook_file(path)
    five = ["SEV1", "SEV2", "SEV3", "SEV4", "SEV5"]
    assert load_runbook_file(path, severities=five).severity == "SEV5"
    named = ["CRITICAL", "MAJOR", "MINOR"]
    write(tmp_path, "broken.yaml", good("broken") + "severity: p1\n")
    assert load_runbook_file(path, severities=named).severity == "MAJOR"
    write(tmp_path, "broken.yaml", good("broken") + "severity: SEV4\n")
    with pytest.raises(RunbookError, match=r"one of CRITICAL, MAJOR, MINOR \(or P0-P2\)"):
        load_runbook_file(path, severities=named)
    # the shipped runbooks are written for the built-in SEV1-SEV4, whatever is configured
    assert load_runbooks(default_runbooks_dir(), severities=["SEV1", "SEV2"])


def test_load_runbooks_collects_every_error_from_every_file(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", good("a").replace("id: recovery", "id: nope"))
    write(tmp_path, "b.yaml", good("b").replace("title: Something broke\n", ""))
    write(tmp_path, "c.yaml", good("c"))
    with pytest.raises(RunbookError) as err:
        load_runbooks(tmp_path)
    lines = str(err.value).splitlines()
    assert lines[0] == "2 runbook problem(s):"
    assert lines[1].startswith(f"{tmp_path}/a.yaml:8: phases[1]: id:")
    assert lines[2] == f"{tmp_path}/b.yaml:1: title: Field required"


def test_later_folder_wins_on_the_same_id(tmp_path: Path) -> None:
    write(tmp_path / "team", "database-down.yaml", good("database-down", title="Our DB runbook"))
    write(tmp_path / "team", "payments-down.yaml", good("payments-down"))
    books = load_runbooks(default_runbooks_dir(), tmp_path / "team")
    assert books["database-down"].title == "Our DB runbook"
    assert "payments-down" in books and "redis-down" in books
    reverse = load_runbooks(tmp_path / "team", default_runbooks_dir())
    assert reverse["database-down"].title != "Our DB runbook"


def test_same_id_twice_in_one_folder_and_missing_folder_are_errors(tmp_path: Path) -> None:
    write(tmp_path, "dup.yaml", good("dup"))
    write(tmp_path, "dup.yml", good("dup"))
    with pytest.raises(RunbookError, match=r"dup.yml: id 'dup' already defined in .*dup.yaml"):
        load_runbooks(tmp_path)
    with pytest.raises(RunbookError, match="runbooks folder not found"):
        load_runbooks(tmp_path / "nowhere")


# -- check_runbooks -------------------------------------------------------------------


def test_check_runbooks_on_the_shipped_folder() -> None:
    code, report = check_runbooks(None)
    assert code == 0
    assert report.splitlines()[-1].startswith("12 valid, 0 problem(s)")
    assert "ok     database-down.yaml: " in report


def test_check_runbooks_reports_problems_and_overrides(tmp_path: Path) -> None:
    write(tmp_path, "redis-down.yaml", good("redis-down"))
    write(tmp_path, "broken.yaml", good("broken").replace("id: recovery", "id: nope"))
    code, report = check_runbooks(tmp_path)
    assert code == 1
    assert (
        "ok     redis-down.yaml: Something broke (2 steps) (overrides the shipped runbook)"
        in report
    )
    assert f"error  {tmp_path}/broken.yaml:8: phases[1]: id:" in report
    assert report.splitlines()[-1] == f"1 valid, 1 problem(s) in {tmp_path}"


def test_check_runbooks_missing_or_empty_folder(tmp_path: Path) -> None:
    assert check_runbooks(tmp_path / "nowhere")[0] == 2
    code, report = check_runbooks(tmp_path)
    assert code == 1 and "no runbooks" in report


# -- ranking and listing ----------------------------------------------------------------


def test_ranking_puts_the_alerts_runbook_first_then_title_words(
    shipped: dict[str, Runbook],
) -> None:
    ranked = rank_runbooks(shipped.values(), alertname="HighMemory", title="Redis is down")
    assert [b.id for b in ranked[:2]] == ["memory-leak", "redis-down"]
    by_title = rank_runbooks(shipped.values(), alertname=None, title="Disk full on db host")
    assert by_title[0].id == "disk-space"
    no_hint = rank_runbooks(shipped.values(), alertname="Unknown", title="")
    assert [b.id for b in no_hint] == sorted(shipped)
    assert rank_runbooks(shipped.values(), alertname="highmemory", title="")[0].id == "memory-leak"


@given(st.permutations(sorted(SHIPPED_IDS)), st.sampled_from([*ALERT_MAP, None]), st.text())
@settings(max_examples=60, deadline=None)
def test_ranking_ignores_input_order(order: list[str], alert: str | None, title: str) -> None:
    books = load_runbooks_cached()
    ranked = rank_runbooks([books[i] for i in order], alertname=alert, title=title)
    assert ranked == rank_runbooks(books.values(), alertname=alert, title=title)
    assert sorted(b.id for b in ranked) == sorted(SHIPPED_IDS)
    if alert:
        assert ranked[0].id == ALERT_MAP[alert]


_CACHE: dict[str, Runbook] = {}


def load_runbooks_cached() -> dict[str, Runbook]:
    if not _CACHE:
        _CACHE.update(load_runbooks(default_runbooks_dir()))
    return _CACHE


def test_runbook_list_with_and_without_an_incident(shipped: dict[str, Runbook]) -> None:
    ranked = rank_runbooks(shipped.values(), alertname="RedisDown", title="")
    blocks = runbook_list(ranked, incident_id="INC-3")
    assert check_blocks(blocks) == []
    assert blocks[2]["block_id"] == "rb-list-redis-down"
    post = blocks[2]["accessory"]
    assert action_pattern(ACTION_POST).match(post["action_id"])
    assert parse_list_value(post["value"]) == ("INC-3", "redis-down")
    bare = runbook_list(ranked, incident_id=None)
    assert check_blocks(bare) == [] and not any("accessory" in b for b in bare)
    assert "No runbooks" in str(runbook_list([], incident_id=None))


def test_runbook_list_of_many_runbooks_stays_within_one_message() -> None:
    many = [
        make_runbook({"symptoms": 1}).model_copy(update={"id": f"rb-{i:03}"}) for i in range(80)
    ]
    blocks = runbook_list(many, incident_id="INC-1")
    assert len(blocks) <= 50 and check_blocks(blocks) == []
    assert "and 33 more" in blocks[-1]["elements"][0]["text"]

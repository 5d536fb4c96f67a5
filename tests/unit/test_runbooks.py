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
    ACTION_MENU,
    ACTION_POST,
    ACTION_SHOW,
    ACTION_SKIP,
    ACTION_TAKE,
    ACTION_TICK,
    ACTION_UNDO,
    _rendered_group,
    action_key,
    action_pattern,
    checklist,
    groups,
    long_form,
    long_form_of,
    menu_value,
    parse_list_value,
    parse_menu_value,
    parse_step_value,
    progress,
    runbook_list,
    runbook_messages,
    step_value,
    ticked,
)
from bot.core.config_sections import DEFAULT_ROLES
from bot.runbooks.library import (
    MAX_COMMAND,
    MAX_STEPS,
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


def boxes(blocks: list[dict[str, Any]]) -> dict[str, tuple[dict[str, Any], bool]]:
    """Each shown step's checkbox option and whether it is ticked, by step id."""
    out = {}
    for block in blocks:
        for el in block.get("elements", []):
            if el.get("type") == "checkboxes":
                for option in el["options"]:
                    out[option["value"]] = (option, option in el.get("initial_options", []))
    return out


def menu(blocks: list[dict[str, Any]], step_id: str) -> list[str]:
    for block in blocks:
        for el in block.get("elements", []):
            if el.get("action_id") == f"{ACTION_MENU}:{step_id}":
                return [parse_menu_value(o["value"])[0] for o in el["options"]]
    raise AssertionError(step_id)


def step_ids_in(blocks: list[dict[str, Any]]) -> list[str]:
    """The steps of a long form (Show steps), in order."""
    return [
        b["block_id"].removeprefix("rb-step-")
        for b in blocks
        if b.get("block_id", "").startswith("rb-step-")
    ]


def buttons(blocks: list[dict[str, Any]], step_id: str) -> list[str]:
    block = next(b for b in blocks if b.get("block_id") == f"rb-act-{step_id}")
    return [e["text"]["text"] for e in block["elements"]]


def long_forms(book: Runbook, states: dict[str, StepState]) -> list[list[dict[str, Any]]]:
    return [
        blocks
        for phase in book.phases
        for _, blocks in long_form(book, states, phase.id, run_id="INC-1")
    ]


# -- the shipped runbooks -------------------------------------------------------------


def test_every_shipped_runbook_is_there_and_well_formed(shipped: dict[str, Runbook]) -> None:
    assert set(shipped) == SHIPPED_IDS
    for rid, book in shipped.items():
        assert (default_runbooks_dir() / f"{rid}.yaml").is_file()
        assert 12 <= len(book.steps()) <= 35, rid
        assert [p.id for p in book.phases] == list(PHASE_TITLES), rid
        assert book.summary and book.stakeholders and book.rto and book.escalate, rid
        assert any(s.command for s in book.steps()), rid
        # written for the default config: every role they name is one it defines
        named = {s.owner for s in book.steps() if s.owner}
        assert named | {t for t in book.escalate.to if t.islower()} <= set(DEFAULT_ROLES), rid


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
        for label, states in all_states(book).items():
            messages = runbook_messages(book, states, run_id="INC-20240101-1")
            assert len(messages) == 1, (book.id, label)
            blocks = messages[0]
            assert check_blocks(blocks) == [], (book.id, label)
            assert len(blocks) <= 25, (book.id, label)  # about one screen
            # every step of an unfinished phase is a box; a finished phase is its line
            unfinished = [
                s.id
                for p in book.phases
                if progress(book.model_copy(update={"phases": [p]}), states)[0] < len(p.steps)
                for s in p.steps
            ]
            assert list(boxes(blocks)) == unfinished, (book.id, label)
            for long in long_forms(book, states):
                assert check_blocks(long) == [], (book.id, label)
            assert [sid for long in long_forms(book, states) for sid in step_ids_in(long)] == [
                s.id for s in book.steps()
            ]


def test_the_service_down_checklist_fits_a_screen(shipped: dict[str, Runbook]) -> None:
    book = shipped["service-down"]
    assert len(book.steps()) == 21
    blocks = checklist(book, {}, run_id="r1")
    # header, progress, summary; then 7 phases of a line and one group of boxes each
    assert len(blocks) == 3 + 7 * 2
    first_phase = {s.id: StepState(status="done", by="U0B", at=EPOCH) for s in book.phases[0].steps}
    assert len(checklist(book, first_phase, run_id="r1")) == len(blocks) - 1


def test_boxes_and_menus_follow_the_step_state(shipped: dict[str, Runbook]) -> None:
    book = shipped["database-down"]
    first, second, third, fourth = (s.id for s in book.steps()[:4])
    states = {
        first: StepState(status="done", by="U0123ABCD", at=EPOCH),
        second: StepState(status="skipped", by="U0123ABCD", at=EPOCH),
        third: StepState(status="taken", by="U0999ZZZZ", at=EPOCH),
    }
    blocks = checklist(book, states, run_id="INC-1")
    shown = boxes(blocks)
    assert [shown[s][1] for s in (first, second, third, fourth)] == [True, True, False, False]
    notes = {sid: o.get("description", {}).get("text", "") for sid, (o, _) in shown.items()}
    assert notes[first] == "done by <@U0123ABCD>"
    assert notes[second] == "skipped by <@U0123ABCD>"
    assert shown[second][0]["text"]["text"].startswith("*2.* ~")
    assert notes[third] == "🙋 <@U0999ZZZZ> is on it"
    assert notes[fourth] == "owner: commander"
    owned = next(s for s in book.steps() if s.owner == "tech_lead")
    assert notes[owned.id] == "owner: tech lead"
    assert menu(blocks, first) == ["undo", "note"]
    assert menu(blocks, third) == ["take", "skip", "note"]
    assert menu(blocks, fourth) == ["take", "skip", "note"]
    assert "*2 of 25 done* (1 skipped)" in blocks[1]["elements"][0]["text"]
    # user text is escaped, so placeholders never turn into Slack markup
    long = long_form(book, states, "symptoms", run_id="INC-1")[0][1]
    text = {b["block_id"]: b["text"]["text"] for b in long if "text" in b}
    assert "&lt;service-host&gt;" in str(long) or "&lt;" in str(
        boxes(checklist(book, {}, run_id="r"))
    )
    assert (
        f"Done by <@U0123ABCD> · <!date^{EPOCH}^{{date_short_pretty}} {{time}}|"
        in text[f"rb-step-{first}"]
    )
    assert buttons(long, first) == ["Undo"] and buttons(long, second) == ["Undo"]
    assert buttons(long, third) == ["Done", "Skip", "I'm on it"]


def test_a_finished_phase_collapses_to_its_line(shipped: dict[str, Runbook]) -> None:
    book = shipped["service-down"]
    phase = book.phases[1]
    states = {s.id: StepState(status="done", by="U0B", at=EPOCH) for s in phase.steps}
    states[phase.steps[0].id] = StepState(status="skipped", by="U0C", at=EPOCH)
    blocks = checklist(book, states, run_id="r1")
    line = next(b for b in blocks if b.get("block_id") == f"rb-phase-{phase.id}")
    assert line["text"]["text"] == f"✅ *{phase.title}* — 3/3 done (1 skipped)"
    show = line["accessory"]
    assert action_pattern(ACTION_SHOW).match(show["action_id"])
    assert parse_step_value(show["value"]) == ("r1", phase.id)
    assert not set(boxes(blocks)) & {s.id for s in phase.steps}
    # Show steps still tells who did what
    ((_, long),) = long_form(book, states, phase.id, run_id="r1")
    assert "Skipped by <@U0C>" in str(long) and str(long).count("Done by <@U0B>") == 2


def test_values_and_action_ids_carry_the_run_and_the_step(shipped: dict[str, Runbook]) -> None:
    book = shipped["redis-down"]
    blocks = checklist(book, {}, run_id="INC-7")
    for block in blocks:
        for el in block.get("elements", []):
            if el["type"] == "checkboxes":
                assert action_key(el["action_id"]) == "INC-7"
                assert action_pattern(ACTION_TICK).match(el["action_id"])
            if el["type"] == "overflow":
                for option in el["options"]:
                    _, run_id, step_id = parse_menu_value(option["value"])
                    assert run_id == "INC-7" and el["action_id"] == f"{ACTION_MENU}:{step_id}"
                    assert "(step " in option["text"]["text"]  # a menu names its step
    for _, long in long_form(book, {}, "immediate", run_id="INC-7"):
        for block in long:
            for el in block.get("elements", []):
                if el["type"] != "button":
                    continue
                run_id, step_id = parse_step_value(el["value"])
                assert run_id == "INC-7" and el["action_id"].endswith(f":{step_id}")
                assert any(
                    action_pattern(a).match(el["action_id"])
                    for a in (ACTION_DONE, ACTION_SKIP, ACTION_TAKE)
                )
    assert not action_pattern(ACTION_DONE).match("runbook_step_done_more:x")
    assert action_pattern(ACTION_UNDO).match(ACTION_UNDO)


@given(
    run_id=st.text(min_size=1, max_size=60),
    step_id=st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,20}", fullmatch=True),
    verb=st.sampled_from(["take", "skip", "undo", "note"]),
)
def test_step_and_menu_values_round_trip(run_id: str, step_id: str, verb: str) -> None:
    assert parse_step_value(step_value(run_id, step_id)) == (run_id, step_id)
    assert parse_menu_value(menu_value(verb, run_id, step_id)) == (verb, run_id, step_id)


@pytest.mark.parametrize("value", ["", "no-separator", "|p1-s1", "INC-1|"])
def test_parse_step_value_rejects_garbage(value: str) -> None:
    with pytest.raises(ValueError):
        parse_step_value(value)
    with pytest.raises(ValueError):
        parse_menu_value(f"done|{value}")


# -- ticks ---------------------------------------------------------------------------


def tick_block(blocks: list[dict[str, Any]], step_id: str) -> str:
    return next(
        b["block_id"]
        for b in blocks
        for el in b.get("elements", [])
        if el["type"] == "checkboxes" and any(o["value"] == step_id for o in el["options"])
    )


def test_a_tick_is_read_against_what_the_clicker_saw(shipped: dict[str, Runbook]) -> None:
    book = shipped["service-down"]
    a, b, c = (s.id for s in book.phases[2].steps[:3])
    seen = checklist(book, {}, run_id="r")  # what both people saw: nothing ticked
    block_id = tick_block(seen, a)
    # Alice ticks a, Bob ticks b, each from that message: each changes only their own,
    # although Bob's selection lacks a (done in the store by now)
    assert ticked(book, block_id, [a]) == [(a, True)]
    assert ticked(book, block_id, [b]) == [(b, True)]
    # from the message after Alice's tick (a ticked): Bob unticking a reopens it
    after = checklist(book, {a: StepState(status="done", by="U0A", at=1)}, run_id="r")
    assert tick_block(after, a) != block_id  # a new block_id for a new state
    assert ticked(book, tick_block(after, a), []) == [(a, False)]
    assert ticked(book, tick_block(after, a), [a, c]) == [(c, True)]
    # a client holding two ticks not yet shown sends both
    assert ticked(book, block_id, [a, c]) == [(a, True), (c, True)]
    with pytest.raises(ValueError):
        ticked(book, "rb-tick-99-0", [a])
    with pytest.raises(ValueError):
        ticked(book, "rb-phase-symptoms", [a])


def test_long_phases_take_even_groups_of_at_most_ten() -> None:
    book = make_runbook({"symptoms": 11, "investigation": 10, "recovery": 25})
    sizes = [(g.phase, len(g.steps)) for g in groups(book)]
    assert sizes == [(0, 6), (0, 5), (1, 10), (2, 9), (2, 8), (2, 8)]
    blocks = checklist(book, {}, run_id="r")
    assert check_blocks(blocks) == [] and len(boxes(blocks)) == 46


def test_a_rendering_after_a_change_is_what_a_first_rendering_would_be() -> None:
    # groups are rendered once per look of their steps: the next rendering reuses the
    # unchanged ones, and shows the changed one as a rendering from scratch would
    book = make_runbook({"symptoms": 11, "investigation": 10})
    first = book.steps()[0].id
    before = checklist(book, {}, run_id="r")
    states = {first: StepState(status="done", by="U0BOB", at=EPOCH)}
    after = checklist(book, states, run_id="r")
    renamed = checklist(book, states, run_id="r2")
    _rendered_group.cache_clear()
    assert after == checklist(book, states, run_id="r") and after != before
    assert renamed == checklist(book, states, run_id="r2") and renamed != after
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert changed == [1, 2, 3]  # the progress line, the phase's line, the step's group
    other = make_runbook({"symptoms": 11, "investigation": 10}, text="Do another thing")
    assert checklist(other, states, run_id="r") != after  # the same ids, other steps


def test_the_longest_runbook_is_one_message() -> None:
    per_phase = MAX_STEPS // len(PHASE_TITLES)
    sizes = dict.fromkeys(PHASE_TITLES, per_phase)
    sizes["symptoms"] += MAX_STEPS - per_phase * len(PHASE_TITLES)
    book = make_runbook(sizes)
    assert len(book.steps()) == MAX_STEPS
    states = {s.id: StepState(status="done", by=LONG_NAME, at=EPOCH) for s in book.steps()[::3]}
    (blocks,) = runbook_messages(book, states, run_id="INC-1")
    assert check_blocks(blocks) == []
    # Show steps of a long phase comes in parts of 20 steps, and a click finds its part
    parts = long_form(book, states, "symptoms", run_id="INC-1")
    assert len(parts) == 2 and "steps 21–" in parts[1][1][0]["elements"][0]["text"]
    last = book.phases[0].steps[-1].id
    assert step_ids_in(long_form_of(book, states, last, run_id="INC-1")[1])[-1] == last
    with pytest.raises(ValueError, match="at most 200 steps"):
        make_runbook({"symptoms": MAX_STEPS + 1})


@st.composite
def runbooks_and_states(draw: st.DrawFn) -> tuple[Runbook, dict[str, StepState]]:
    phase_ids = draw(st.lists(st.sampled_from(list(PHASE_TITLES)), min_size=1, unique=True))
    long_text = draw(st.booleans())
    phases = []
    for pid in phase_ids:
        n = draw(st.integers(1, 28))
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
    (blocks,) = runbook_messages(book, states, run_id="INC-1")
    assert check_blocks(blocks) == []
    for long in long_forms(book, states):
        assert check_blocks(long) == []
    assert [sid for long in long_forms(book, states) for sid in step_ids_in(long)] == [
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


def test_a_runbooks_roles_are_ones_the_config_defines(tmp_path: Path) -> None:
    owned = good("broken").replace(
        "      - text: Fix it\n", "      - text: Fix it\n        owner: dba\n"
    )
    path = write(tmp_path, "broken.yaml", owned + "escalate: {after: 10m, to: [U0123ABCD, dba]}\n")
    with pytest.raises(RunbookError) as err:
        load_runbook_file(path)
    known = "(roles: commander, tech_lead, comms_lead)"
    assert str(err.value).splitlines() == [
        f"{path}:11: phases[1].steps[0] (p2-s1): owner: unknown role 'dba' {known}",
        f"{path}:13: escalate.to[1]: unknown role 'dba' {known}",
    ]
    roles = ["commander", "tech_lead", "dba"]
    assert load_runbook_file(path, roles=roles).escalate is not None
    # the shipped runbooks name only the built-in roles, whatever is configured
    assert load_runbooks(default_runbooks_dir(), roles=["commander"])
    code, report = check_runbooks(tmp_path)
    assert code == 1 and "unknown role 'dba'" in report
    assert check_runbooks(tmp_path, roles=roles)[0] == 0


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

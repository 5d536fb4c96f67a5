from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.config import IncidentConfig
from handlers import all_verbs
from handlers.parse import Command, UsageError

CONFIG = IncidentConfig()
VERBS = all_verbs()


def parse(text: str, config: IncidentConfig) -> Command:
    return VERBS.parse(text, config)[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "declare SEV1 Checkout API returning 500s",
            Command("declare", text="Checkout API returning 500s", severity="SEV1"),
        ),
        ("declare p0 Checkout down", Command("declare", text="Checkout down", severity="SEV1")),
        ("declare sev2 db slow", Command("declare", text="db slow", severity="SEV2")),
        ("declare P3 typo", Command("declare", text="typo", severity="SEV4")),
        ("declare Checkout down", Command("declare", text="Checkout down")),
        ("declare", Command("declare")),
        ("declare SEV2", Command("declare", severity="SEV2")),
        (
            "declare --private SEV1 leaked key",
            Command("declare", text="leaked key", severity="SEV1", private=True),
        ),
        (
            "update  Rolled back, errors falling",
            Command("update", text="Rolled back, errors falling"),
        ),
        ("status Identified", Command("status", status="identified")),
        ("severity P1", Command("severity", severity="SEV2")),
        ("commander <@U0ALICE|alice>", Command("role", role="commander", user="U0ALICE")),
        ("role tech-lead <@U0BOB>", Command("role", role="tech_lead", user="U0BOB")),
        ("role comms_lead <@U0BOB|bob>", Command("role", role="comms_lead", user="U0BOB")),
        ("resolve Fixed by rollback", Command("resolve", text="Fixed by rollback")),
        ("resolve", Command("resolve")),
        ("timeline", Command("timeline")),
        ("list", Command("list")),
        ("", Command("help")),
        ("HELP", Command("help")),
    ],
)
def test_parses(text: str, expected: Command) -> None:
    assert parse(text, CONFIG) == expected


@pytest.mark.parametrize(
    ("text", "problem", "usage"),
    [
        ("update", "Say what the update is.", "/incident update"),
        ("status fixed", "investigating, identified", "/incident status"),
        ("severity SEV9", "Unknown severity “SEV9”", "/incident severity"),
        ("severity", "Give one severity.", "/incident severity"),
        ("declare SEV7 x", "Unknown severity “SEV7”", "/incident declare"),
        ("commander alice", "not a Slack mention", "/incident commander"),
        ("role scribe <@U0BOB>", "Unknown role “scribe”", "/incident role"),
        ("role tech-lead", "Give a role and one person.", "/incident role"),
        ("frobnicate", "Unknown command “frobnicate”", "/incident help"),
        ("list everything", "takes no arguments", "/incident list"),
    ],
)
def test_usage_errors(text: str, problem: str, usage: str) -> None:
    with pytest.raises(UsageError) as err:
        parse(text, CONFIG)
    assert problem in err.value.problem
    assert err.value.usage.startswith(usage)


def test_custom_roles_are_accepted() -> None:
    config = IncidentConfig(roles=["commander", "tech_lead", "security_lead"])
    assert parse("role security-lead <@U0DAVE>", config).role == "security_lead"
    with pytest.raises(UsageError):
        parse("role comms-lead <@U0DAVE>", config)


@given(st.text(max_size=300))
def test_any_text_parses_or_is_a_usage_error(text: str) -> None:
    try:
        result = parse(text, CONFIG)
    except UsageError as err:
        assert err.problem and err.usage.startswith("/incident")
    else:
        assert isinstance(result, Command)


def test_a_verb_gets_the_rest_of_the_text_as_read_and_as_sent() -> None:
    cmd = parse("followup  Some <@U1|ann> text ", CONFIG)
    assert cmd == Command("followup", text="Some @ann text")
    assert cmd.wire == "Some <@U1|ann> text"  # for a grammar that reads real mentions


def test_every_verb_and_alias_is_registered_once_with_its_usage() -> None:
    from handlers.verbs import Verb, Verbs

    names = {"declare", "update", "status", "severity", "commander", "role", "resolve",
             "timeline", "list", "help", "runbook", "escalate", "postmortem", "note",
             "stats", "doctor", "drill", "private", "followup", "followups", "roles",
             "procedure", "escalations", "sev", "ic"}  # fmt: skip
    assert {n for n in names if VERBS.get(n) is not None} == names
    assert all(u.startswith("/incident ") for u in VERBS.usages())
    assert parse("sev p0", CONFIG) == Command("severity", severity="SEV1")
    found = VERBS.get("update")
    assert found is not None
    with pytest.raises(ValueError, match="registered twice"):
        Verbs([found, Verb("update", "/incident update", found.handler)])


def test_a_handlers_usage_error_carries_its_verbs_usage() -> None:
    with pytest.raises(UsageError) as err:
        parse("timeline now", CONFIG)
    assert "takes no arguments" in err.value.problem
    assert err.value.usage == "/incident timeline"


def test_free_text_is_kept_as_its_reader_saw_it() -> None:
    # Slack escapes what was typed once, and sends real mentions, broadcasts and links as
    # tokens: free text keeps neither kind as markup
    cmd = parse("declare SEV2 Search &amp; browse &lt;slow&gt; for <@U0BOB|bob>", CONFIG)
    assert cmd.text == "Search & browse <slow> for @bob"
    assert parse("update 5xx &gt; 2%", CONFIG).text == "5xx > 2%"
    assert parse("resolve fixed &amp;amp; done", CONFIG).text == "fixed &amp; done"
    typed = parse("update &lt;!everyone&gt; &lt;@U0BOB|x&gt; &lt;!subteam^S1&gt;", CONFIG)
    assert typed.text == "<!everyone> <@U0BOB|x> <!subteam^S1>"  # as typed; escaped on output
    real = parse("update <!everyone> <!subteam^S1|@oncall> <https://evil.example|Join>", CONFIG)
    assert real.text == "@everyone @oncall Join (https://evil.example)"


def test_only_a_real_mention_token_names_a_person() -> None:
    assert parse("commander <@U0BOB|bob>", CONFIG).user == "U0BOB"
    for typed in ("&lt;@U0BOB&gt;", "&lt;@U0BOB|bob&gt;", "@bob", "<!here>", "<#C1|general>"):
        with pytest.raises(UsageError, match="is not a Slack mention"):
            parse(f"commander {typed}", CONFIG)

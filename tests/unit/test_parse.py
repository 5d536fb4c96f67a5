from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import IncidentConfig
from handlers.parse import Command, UsageError, parse

CONFIG = IncidentConfig()


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


def test_registered_verbs_get_the_rest_of_the_text() -> None:
    from handlers.parse import ALL_USAGE, register_usage

    register_usage("zz-test-verb", "/incident zz-test-verb <anything>")
    assert parse("zz-test-verb  Some <@U1> text ", CONFIG) == Command(
        "zz-test-verb", text="Some <@U1> text"
    )
    assert ALL_USAGE["zz-test-verb"] == "/incident zz-test-verb <anything>"


def test_slack_escapes_in_free_text_are_undone_once() -> None:
    cmd = parse("declare SEV2 Search &amp; browse &lt;slow&gt; for <@U0BOB|bob>", CONFIG)
    assert cmd.text == "Search & browse <slow> for <@U0BOB|bob>"
    assert parse("update 5xx &gt; 2%", CONFIG).text == "5xx > 2%"
    assert parse("resolve fixed &amp;amp; done", CONFIG).text == "fixed &amp; done"

"""Slack-safe text (blocks/mrkdwn.py): user text never becomes markup, the bot's own
tokens do, and what Slack sends is read back as its reader saw it. The fake Slack reads
the results the way Slack does (`notice`), so these assert who would be rung."""

from __future__ import annotations

import pytest

import blocks.mrkdwn as mk
from blocks.common import context, section
from blocks.mrkdwn import Mrkdwn, escape, md
from bot.core.models import TimelineEntry
from bot.fakes.slack import FakeSlack, notice, shown

ATTACK = "<!everyone> <https://evil.example|Join the bridge> &lt;!subteam^S1&gt; <@U0EVE>"
RINGS_NOBODY = notice("")


def test_escaped_text_rings_nobody_and_reads_as_typed() -> None:
    text = escape(ATTACK)
    assert notice(text) == RINGS_NOBODY
    assert shown(text) == ATTACK


def test_md_escapes_its_fields_and_keeps_its_template_and_tokens() -> None:
    text = md("*{}* by {} {}", ATTACK, mk.user("U0BOB"), mk.date(0, "{time}"))
    assert notice(text).users == {"U0BOB"}
    assert not notice(text).broadcasts and not notice(text).links
    assert text.startswith("*&lt;!everyone&gt;") and "<@U0BOB> <!date^0^{time}|" in text


@pytest.mark.parametrize(
    "combine",
    [
        lambda t: md("a ") + t,
        lambda t: t + md(" a"),
        lambda t: mk.join(["a", t]),
        lambda t: md("{}", t),
        lambda t: Mrkdwn(t),
        lambda t: md("{:>3}", t),
    ],
)
def test_every_way_of_combining_escapes_plain_text(combine: object) -> None:
    out = combine(ATTACK)  # type: ignore[operator]
    assert isinstance(out, Mrkdwn) and notice(out) == RINGS_NOBODY


def test_any_other_str_operation_gives_plain_text_that_is_escaped_again() -> None:
    token = mk.user("U0BOB")
    cut = token.upper()  # a str now: the next builder escapes it
    assert type(cut) is str and section(cut)["text"]["text"] == "&lt;@U0BOB&gt;"  # type: ignore[arg-type]
    assert context(f"{token}")["elements"][0]["text"] == "&lt;@U0BOB&gt;"  # type: ignore[arg-type]


def test_token_constructors_refuse_what_is_not_an_id() -> None:
    for made in (
        mk.user("U1>|<!everyone"),
        mk.channel("C1><!here"),
        mk.usergroup("S1><!channel"),
        mk.link("javascript:alert(1)", "Join the bridge"),
        mk.link("https://x.example/<!here>", "Join"),
    ):
        assert notice(made).broadcasts == set() and not notice(made).links, made
    assert mk.link("https://ok.example/a?b=1&c=2", "Source") == (
        "<https://ok.example/a?b=1&amp;c=2|Source>"
    )
    assert notice(mk.link("https://ok.example", "<!here>")).broadcasts == set()
    with pytest.raises(ValueError):
        mk.broadcast("everyone")  # the bot never rings a whole workspace
    with pytest.raises(ValueError):
        mk.date(0, "{time}|<!here>")


def test_clip_and_pieces_never_cut_a_token_or_an_entity() -> None:
    text = md("{} {} {}", "a" * 8, mk.user("U0BOB"), "<<<<")
    for limit in range(2, len(text)):
        clipped = mk.clip(text, limit)
        assert len(clipped) <= limit and notice(clipped).users <= {"U0BOB"}
        assert "<@U" not in clipped or "<@U0BOB>" in clipped
        assert clipped.count("&") == clipped.count(";")
    for size in range(8, 20):
        parts = mk.pieces(text, size)
        assert "".join(parts) == text and all(len(p) <= size for p in parts)
        assert all(p.count("&") == p.count(";") for p in parts)


def test_readable_is_what_the_reader_saw() -> None:
    wire = (
        "Search &amp; browse &lt;slow&gt; for <@U0BOB|bob> in <#C1|general>, <!here>, "
        "<!subteam^S1|@dba>, <!date^0^{time}|00:00 UTC>, <https://x.example|the graph>, "
        "<https://y.example>, <mailto:a@b.example|a@b.example>"
    )
    assert mk.readable(wire) == (
        "Search & browse <slow> for @bob in #general, @here, @dba, 00:00 UTC, "
        "the graph (https://x.example), https://y.example, a@b.example"
    )
    assert mk.readable("&amp;lt;") == "&lt;"  # undone once


def test_sanitize_keeps_only_real_user_and_channel_mentions() -> None:
    wire = (
        "<!everyone> <https://evil.example|Join the bridge> &lt;!subteam^S1&gt; "
        "&lt;@U0EVE&gt; ask <@U0BOB|bob> in <#C1|general> &amp; <!subteam^S2|@dba>"
    )
    out = mk.sanitize(wire)
    seen = notice(out)
    assert seen.users == {"U0BOB"} and not seen.groups and not seen.broadcasts
    assert not seen.links
    assert shown(out) == (
        "@everyone Join the bridge (https://evil.example) <!subteam^S1> <@U0EVE> ask U0BOB "
        "in C1 & @dba"
    )


def test_keeping_lets_through_only_the_drafts_own_mentions() -> None:
    out = mk.keeping(
        "<@U0A> <@U0B> <#C1> <#C2> <!here> <!subteam^S1>", users={"U0A"}, channels={"C1"}
    )
    assert notice(out).users == {"U0A"} and not notice(out).broadcasts and not notice(out).groups
    assert out.startswith("<@U0A> &lt;@U0B&gt; <#C1> &lt;#C2&gt;")


def test_a_timeline_entry_trusts_only_mrkdwn_it_was_given() -> None:
    bot = TimelineEntry(at=1, actor=None, kind="role", text=md("Commander: {}", mk.user("U0B")))
    typed = TimelineEntry(at=1, actor=None, kind="note", text=f"Note: {ATTACK}")
    assert notice(bot.shown).users == {"U0B"}
    assert notice(typed.shown) == RINGS_NOBODY and shown(typed.shown) == f"Note: {ATTACK}"
    # stored and read back, each stays what it was; an entry stored before, as plain text
    assert TimelineEntry.model_validate_json(bot.model_dump_json()).shown == bot.shown
    assert TimelineEntry.model_validate_json(typed.model_dump_json()).shown == typed.shown
    old = TimelineEntry.model_validate({"at": 1, "actor": None, "kind": "x", "text": ATTACK})
    assert notice(old.shown) == RINGS_NOBODY


def test_the_fake_slack_reads_tokens_as_slack_does() -> None:
    seen = notice("<!channel> <!group> <@U1|a> <!subteam^S1|@x> <#C1> <https://a.example|b>")
    assert seen.broadcasts == {"channel"} and seen.users == {"U1"} and seen.groups == {"S1"}
    assert seen.disguised_links == [("https://a.example", "b")]
    assert notice("<https://a.example/|a.example> <http://b.example>").disguised_links == []
    assert notice("&lt;!everyone&gt; @everyone @here") == RINGS_NOBODY


def test_the_fake_slack_client_escapes_what_is_typed() -> None:
    fake = FakeSlack()
    fake.add_user("U0BOB", "bob")
    typed = fake.typed("a < b & <!here> @bob @here @nobody", with_names=True)
    assert typed == "a &lt; b &amp; &lt;!here&gt; <@U0BOB|bob> <!here> @nobody"

"""An interaction's form body decoded in C (bot/core/slack_transport.py `interaction_json`)
and its JSON read by pydantic-core (`interaction`) read exactly as Bolt's own parsing
reads them, or are left to Bolt (or refused as malformed)."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_bolt.request.internals import parse_body

from bot.core.slack_transport import interaction, interaction_json


def _bolt(body: bytes) -> object:
    return parse_body(body.decode(), "application/x-www-form-urlencoded")


@given(
    payload=st.dictionaries(st.text(), st.text() | st.integers() | st.none(), max_size=5),
    plus=st.booleans(),
    before=st.sampled_from(["", "a=1&", "&", "x&"]),
    after=st.sampled_from(["", "&b=2", "&", "&payload_not=%7B"]),
)
def test_a_payload_reads_as_bolt_reads_it(
    payload: dict[str, object], plus: bool, before: str, after: str
) -> None:
    text = json.dumps(payload, ensure_ascii=False)
    body = f"{before}payload={(quote_plus if plus else quote)(text)}{after}".encode()
    decoded = interaction_json(body)
    assert decoded is not None
    assert interaction(decoded) == json.loads(decoded) == _bolt(body) == payload


def test_the_last_payload_wins_as_in_bolt() -> None:
    body = b"payload=%7B%22a%22%3A1%7D&payload=%7B%22a%22%3A2%7D"
    assert json.loads(interaction_json(body) or "") == _bolt(body) == {"a": 2}


def test_bad_utf8_in_an_escape_is_replaced_as_in_bolt() -> None:
    body = b"payload=%7B%22a%22%3A%22%FF%22%7D"
    assert json.loads(interaction_json(body) or "") == _bolt(body) == {"a": "\ufffd"}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b'{"type": "event_callback"}',  # JSON: Bolt reads it
        b"command=%2Fincident&text=declare",  # a slash command: no payload
        b"payload=",  # empty: Bolt refuses it
        b"payload=%7B%zz%7D",  # a stray %: urllib keeps it as it is
        b"payload=%7B%7",
        b"payload=%7B%22a%22%3A1%7D%",  # a % at the end
        b"payload=%%7B%7D",  # %% (quoted-printable reads == as =)
        b"payload=%7B%22a=b%22%3A1%7D",  # a raw = in the value
        b"payload=%7B%22a%22%3A%22%0A%22%7D\n",  # a raw line break (a soft one in QP)
        b"pay%6Coad=%7B%7D",  # an escaped name
        b"pay+load=%7B%7D",
        "payload=%7B%22a%22%3A%22é%22%7D".encode(),  # not ASCII
    ],
)
def test_what_it_cannot_read_exactly_is_left_to_bolt(body: bytes) -> None:
    assert interaction_json(body) is None


@pytest.mark.parametrize("text", ["[1]", '"a"', "1", "null", "{", '{"a": 1} {}', '"\\ud800"'])
def test_an_interaction_that_is_no_json_object_is_malformed(text: str) -> None:
    with pytest.raises((TypeError, ValueError)):
        interaction(text)


def test_an_escaped_pair_of_surrogates_reads_as_its_character() -> None:
    assert interaction('{"a": "\\ud83d\\ude00 \\u00e9"}') == {"a": "\U0001f600 \u00e9"}


def test_raw_json_characters_and_backslashes_read_as_in_bolt() -> None:
    body = b'payload={"a":"\\u00e9 \\"q\\" _ %3D"}'
    assert json.loads(interaction_json(body) or "") == _bolt(body) == {"a": 'é "q" _ ='}

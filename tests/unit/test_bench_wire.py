"""The bench sends a click's form body byte for byte as urlencode() writes it, however it
reuses the encoding of its large fields (bench/wire.py `interaction_body`)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st

from bench.wire import interaction_body

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(payload=st.dictionaries(st.text(), JSON, max_size=6))
def test_a_payload_is_encoded_as_urlencode_encodes_it(payload: dict[str, Any]) -> None:
    assert interaction_body(payload) == urlencode({"payload": json.dumps(payload)}).encode()


def test_a_large_field_encoded_again_reads_the_same() -> None:
    message = {"blocks": [{"text": f"step {i} é 😀 & = + %"} for i in range(200)]}
    for user in ("U1", "U2"):  # the second reuses the message's encoding
        payload = {"type": "block_actions", "user": user, "message": message}
        assert interaction_body(payload) == urlencode({"payload": json.dumps(payload)}).encode()

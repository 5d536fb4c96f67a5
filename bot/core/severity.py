"""Severity names and their aliases: the one rule every parser calls.

The configured severities (bot/core/config.py `severities`, worst first) are the valid ones.
A severity is written as its configured name (any case) or as an alias by rank: `SEV1`
(or `sev1`) is the first configured severity, `P0` the first too, `SEV2`/`P1` the second,
and so on up to as many as are configured. With the built-in SEV1-SEV4 that is SEV1-4
and P0-P3. The config, the `/incident` grammar, runbooks and drill
scenarios all resolve through `resolve_severity`. The shipped runbooks and scenarios, like
the built-in alert rules, are written for the built-in SEV1-SEV4: they are checked against
those, and where fewer are configured their severity falls back to the mildest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

DEFAULT_NAMES = ("SEV1", "SEV2", "SEV3", "SEV4")
_ALIAS = re.compile(r"^(?:sev(\d+)|p(\d+))$", re.IGNORECASE)


def resolve_severity(text: str, names: Sequence[str]) -> str | None:
    """`text` as one of the configured `names` (worst first), or None."""
    word = text.strip().upper()
    if word in names:
        return word
    match = _ALIAS.match(word)
    if match:
        index = int(match.group(1)) - 1 if match.group(1) else int(match.group(2))
        if 0 <= index < len(names):
            return names[index]
    return None


def looks_like_severity(text: str) -> bool:
    """`SEV7`, `p9`: written as a severity alias, whether or not one is configured."""
    return _ALIAS.match(text.strip()) is not None


def severity_problem(text: str, names: Sequence[str]) -> str:
    """What is wrong with a severity `resolve_severity` did not know, for a file's author."""
    example = names[1] if len(names) > 1 else names[0]
    return (
        f"severity {text!r} must be like {example}: one of {', '.join(names)} "
        f"(or P0-P{len(names) - 1})"
    )

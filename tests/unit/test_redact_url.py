"""redact_url: every URL we show or log keeps where it points and loses its secrets."""

from __future__ import annotations

import pytest

from bot.core.logs import redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://:hunter2@db:6379/0", "redis://:***@db:6379/0"),
        ("redis://default:hunter2@db:6379/0", "redis://default:***@db:6379/0"),
        ("redis://db:6379/0?password=hunter2&db=1", "redis://db:6379/0?password=***&db=1"),
        ("rediss://u:p%40ss@db/0?ssl_cert_reqs=none", "rediss://u:***@db/0?ssl_cert_reqs=none"),
        ("redis://hunter2@db:6379", "redis://***@db:6379"),  # a lone user part may be a token
        # a password with / or # (which urlsplit reads as path or fragment) is still hidden
        ("redis://:hun/ter#2@db:6379/0", "redis://:***@db:6379/0"),
        (
            "unix:///run/redis.sock?db=0&password=hunter2",
            "unix:///run/redis.sock?db=0&password=***",
        ),
        (
            "https://u:hunter2@proxy/api/?access_token=hunter2&Api-Key=hunter2&v=2#top",
            "https://u:***@proxy/api/?access_token=***&Api-Key=***&v=2#top",
        ),
        ("https://slack.com/api/", "https://slack.com/api/"),
        ("not a url at all", "not a url at all"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "hunter2" not in redact_url(url)

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.core.config import ConfigError, IncidentConfig, Settings, load_config
from bot.core.durations import format_duration, parse_duration


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "incident.yaml"
    path.write_text(text)
    return path


def test_defaults_are_the_contract_values() -> None:
    config = load_config(None)
    assert [
        (s.name, s.label, format_duration(s.update_every), s.page) for s in config.severities
    ] == [
        ("SEV1", "Critical", "15 min", True),
        ("SEV2", "High", "30 min", True),
        ("SEV3", "Medium", "2 h", False),
        ("SEV4", "Low", "1 d", False),
    ]
    assert config.announce_channel == "incidents"
    assert config.roles == ["commander", "tech_lead", "comms_lead"]
    assert config.escalation.ack_timeout == timedelta(minutes=15)
    assert config.alerts.dedupe_window == timedelta(minutes=5)


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")) == IncidentConfig()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("2h", 7200), ("1d", 86400), (" 1w ", 604800), (90, 90)],
)
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("bad", ["15", "m15", "1.5h", "0m", "-3m", "fast"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_aliases() -> None:
    config = IncidentConfig()
    assert [
        config.resolve_severity(x) for x in ("P0", "p1", "sev3", "SEV4", "P4", "SEV5", "x")
    ] == [
        "SEV1",
        "SEV2",
        "SEV3",
        "SEV4",
        None,
        None,
        None,
    ]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            "severities:\n  - {name: SEV1, label: Critical, update_every: soon}\n",
            "incident.yaml:2: severities[0].update_every: 'soon' is not a duration",
        ),
        (
            "announce_channel: incidents\nescalation:\n  ack_timout: 15m\n",
            "incident.yaml:3: escalation.ack_timout: unknown key",
        ),
        (
            "escalation:\n  matrix:\n    SEV9:\n      - {after: 15m, notify: [U0123ABCD]}\n",
            "incident.yaml:3: escalation.matrix.SEV9: unknown severity 'SEV9'",
        ),
        ("channel_prefix: INC!\n", "channel_prefix: use 1-21 lowercase"),
        (
            "alerts:\n  rules:\n    - {alertname: X, severity: P9}\n",
            "alerts.rules[0].severity: unknown severity",
        ),
        (
            "alerts:\n  channels:\n    - alerts\n    - {channel: pages, from: [U0ALICE]}\n",
            "incident.yaml:4: alerts.channels[1].from: 'U0ALICE' is not a bot ID (B…) or an app ID",
        ),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("a: [unclosed\n", "incident.yaml:2:1: not valid YAML"),
    ],
)
def test_invalid_files_name_the_key_and_line(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert needle in str(err.value)


def test_a_team_procedure_loads(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
announce_channel: C0INCIDENTS
channel_prefix: ops
severities:
  - {name: SEV1, label: Critical, update_every: 10m, page: true}
  - {name: SEV2, label: Major, update_every: 1h}
roles: [commander, tech_lead, comms_lead, security_lead]
escalation:
  ack_timeout: 5m
  matrix:
    sev1:
      - {after: 15m, notify: [U0123ABCD], note: Team lead}
""",
        )
    )
    assert config.severity("SEV1").update_every == timedelta(minutes=10)
    assert config.escalation.matrix["sev1"][0].notify == ["U0123ABCD"]
    assert "security_lead" in config.roles


def test_alert_channels_by_name_or_with_the_machines_they_read(tmp_path: Path) -> None:
    text = "alerts:\n  channels: [alerts, {channel: C0PAGES, from: [B0123, A0456]}]\n"
    channels = load_config(write(tmp_path, text)).alerts.channels
    assert [(c.channel, c.senders) for c in channels] == [
        ("alerts", []),
        ("C0PAGES", ["B0123", "A0456"]),
    ]


@pytest.mark.parametrize("blank", ["", "   ", "\n"])
def test_a_blank_secret_or_token_counts_as_unset(blank: str) -> None:
    settings = Settings(slack_signing_secret=blank, slack_app_token=blank, alertmanager_token=blank)
    assert (settings.slack_signing_secret, settings.slack_app_token) == (None, None)
    assert settings.alertmanager_token is None
    # a secret pasted with its newline still works
    assert Settings(slack_signing_secret=" abc123\n").slack_signing_secret == "abc123"

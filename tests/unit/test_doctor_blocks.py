"""The doctor's pure parts: its Block Kit, the manifest it reads, the clock arithmetic."""

from __future__ import annotations

from blocks.doctor import doctor_report
from blocks.limits import check_blocks
from bot.core.config import IncidentConfig
from bot.core.models import CheckResult
from bot.doctor import channel_uses, clock_skew, manifest_path, manifest_scopes


def result(status: str, name: str = "Slack token", group: str = "Slack", **kw: str) -> CheckResult:
    return CheckResult.model_validate(
        {"group": group, "name": name, "status": status, "detail": kw.get("detail", "d"), **kw}
    )


def test_report_groups_lines_and_shows_fixes() -> None:
    results = [
        result("ok", detail="valid: @incident-bot"),
        result("fail", "Slack scopes", detail="missing pins:write", fix="reinstall <the app>"),
        result("warn", "Redis persistence", "Redis", detail="no persistence", fix="AOF"),
    ]
    text, blocks = doctor_report(results, seconds=0.42)
    assert check_blocks(blocks) == []
    shown = str(blocks)
    assert "*1 problem to fix*" in shown and "1 warning, 1 passed" in shown
    assert shown.index("*Slack*") < shown.index("*Redis*")
    assert ":x: *Slack scopes*: missing pins:write" in shown
    assert "_Fix:_ reinstall &lt;the app&gt;" in shown  # fixes are text, never markup
    assert "Checked in 0.4 s" in shown
    assert "✗ Slack scopes: missing pins:write" in text and "Slack token" not in text


def test_all_clear_headline() -> None:
    _, blocks = doctor_report([result("ok")])
    assert ":white_check_mark: *All set*" in str(blocks)


def test_a_huge_checklist_stays_within_slack_limits() -> None:
    groups = ["Slack", "PagerDuty", "Redis", "Configuration", "Clock"]
    results = [
        result("fail", f"Channel #c{i}", groups[i % 5], detail="x" * 900, fix="y" * 900)
        for i in range(200)
    ]
    text, blocks = doctor_report(results)
    assert check_blocks(blocks) == []
    assert len(blocks) <= 50 and len(text) <= 3000
    assert "run the command below" in str(blocks[-2])


def test_the_manifest_is_found_and_read() -> None:
    scopes = manifest_scopes(manifest_path())
    assert {"chat:write", "commands", "channels:manage"} <= set(scopes)


def test_clock_skew_uses_the_middle_of_the_round_trip() -> None:
    # sent at 100.0, answered at 100.4; the server stamped second 100 (100.0-100.999)
    assert abs(clock_skew(100.0, 100.4, 100.0)) < 0.5
    assert clock_skew(160.0, 160.2, 100.0) > 59
    assert clock_skew(40.0, 40.2, 100.0) < -59


def test_each_channel_is_checked_once_with_all_its_uses() -> None:
    config = IncidentConfig.model_validate(
        {
            "announce_channel": "#ops",
            "alerts": {"channels": ["ops", "alerts"]},
            "stakeholders": {
                "SEV1": [{"audience": "execs", "channel": "leadership", "every": "15m"}]
            },
        }
    )
    uses = {u.display: u for u in channel_uses(config)}
    assert set(uses) == {"#ops", "#alerts", "#leadership"}
    assert uses["#ops"].purposes == ("announce", "alert") and uses["#ops"].reads
    assert not uses["#leadership"].reads


def test_an_alert_channel_open_to_any_bot_is_marked() -> None:
    config = IncidentConfig.model_validate(
        {"alerts": {"channels": ["alerts", {"channel": "#pages", "from": ["B0AM", "A0GRAF"]}]}}
    )
    uses = {u.display: u for u in channel_uses(config)}
    assert uses["#alerts"].any_bot and uses["#pages"].reads
    assert not uses["#pages"].any_bot and not uses["#incidents"].any_bot

"""The configuration lines: the config file (exactly what start-up checks, and whether the
running bot's copy is still the file's) and the runbooks (shipped and the config's folder).
"""

from __future__ import annotations

from bot.core.models import CheckResult
from bot.doctor.context import Context, Line
from bot.runbooks.library import RunbookError, default_runbooks_dir, load_runbooks


async def check_config(ctx: Context, line: Line) -> CheckResult:
    path = ctx.settings.incident_config
    if ctx.config_error is not None:
        running = (
            "; the running bot keeps the version it started with, and its next start will fail"
            if ctx.setup.config is not None
            else ""
        )
        return line.fail(
            f"{ctx.config_error}{running}",
            f"Fix the lines above; `python -m bot check-config {path}` checks the file again.",
        )
    if path is None:
        return line.ok("built-in defaults (INCIDENT_CONFIG is not set)")
    if ctx.setup.config is not None and ctx.on_disk != ctx.setup.config:
        return line.warn(
            f"{path} is valid but changed since the bot started",
            "Restart the bot to use the file as it is now.",
        )
    return line.ok(f"{path} is valid")


async def check_runbooks(ctx: Context, line: Line) -> CheckResult:
    dirs = [default_runbooks_dir()]
    if ctx.config is not None and ctx.config.runbooks_dir:
        dirs.append(ctx.config.runbooks_dir)
    try:
        config = ctx.config
        books = load_runbooks(
            *dirs,
            severities=config.severity_names if config else None,
            roles=config.roles if config else None,
        )
    except RunbookError as exc:
        return line.fail(
            str(exc),
            "Fix the lines above; `python -m bot check-runbooks DIR` checks a folder again.",
        )
    where = ", ".join(str(d) for d in dirs)
    return line.ok(f"{len(books)} runbook(s) valid ({where})")

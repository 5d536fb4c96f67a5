"""Debian's Chromium under Playwright: never a downloaded browser, nothing fetched."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# Playwright's expect() polls until its condition holds: this is only how long before a
# page that never gets there fails (a loaded 2-core machine can take many seconds)
EXPECT_TIMEOUT = 30_000  # ms
MISSING = "Debian's chromium is not installed (tests/run.sh installs it: apt-get install chromium)"


def chromium_path() -> str | None:
    return shutil.which("chromium")


def launch(playwright: Playwright, *extra: str) -> Browser:
    path = chromium_path()
    if path is None:
        raise RuntimeError(MISSING)
    return playwright.chromium.launch(executable_path=path, args=[*ARGS, *extra])

"""What the browser tests share: the sandbox process a test module's Chromium drives, that
Chromium, and a fresh page on it for each test (tests/browser/ui.py), `viewport` sized
(a module overrides the fixture for another size)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.chromium import MISSING, chromium_path, launch
from tests.sandbox_process import SandboxProcess

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
NO_PLAYWRIGHT = "playwright is not installed"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    """`python -m bot` with no tokens, for one test module (skipped without Chromium)."""
    if chromium_path() is None:
        pytest.skip(MISSING)
    with SandboxProcess() as process:
        yield process


@pytest.fixture(scope="module")
def browser(sandbox: SandboxProcess) -> Iterator[Any]:
    """Debian's Chromium, for one test module."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason=NO_PLAYWRIGHT)
    with playwright_api.sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()


@pytest.fixture
def viewport() -> dict[str, int] | None:
    """The page's size; None: tests/browser/ui.py's VIEWPORT."""
    return None


@pytest.fixture
def page(
    browser: Any,
    sandbox: SandboxProcess,
    viewport: dict[str, int] | None,
    request: pytest.FixtureRequest,
) -> Iterator[Any]:
    """A new page on the sandbox, its feed connected; a screenshot in tests/artifacts/
    when the test ends, also when it fails."""
    from tests.browser.ui import open_page  # imported here: it skips without playwright

    page = open_page(browser, sandbox, viewport)
    try:
        yield page
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"sandbox-{request.node.name}.png"))
        page.close()

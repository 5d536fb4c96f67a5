"""What the browser tests share: the sandbox process a test module's Chromium drives, and
a fresh page on it for each test (modules with a page of their own define theirs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.chromium import EXPECT_TIMEOUT, MISSING, chromium_path, launch
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


@pytest.fixture
def page(sandbox: SandboxProcess, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A new Chromium on the sandbox, its feed connected; a screenshot in tests/artifacts/
    when the test ends, also when it fails."""
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed"
    )
    expect = playwright_api.expect
    with playwright_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        expect.set_options(timeout=EXPECT_TIMEOUT)
        page.goto(sandbox.url)
        expect(page.get_by_role("status")).to_have_text("live")  # the feed is connected
        try:
            yield page
        finally:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"sandbox-{request.node.name}.png"))
            browser.close()

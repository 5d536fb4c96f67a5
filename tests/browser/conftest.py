"""What the browser tests share: the sandbox process a test module's Chromium drives."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.chromium import MISSING, chromium_path
from tests.sandbox_process import SandboxProcess


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    """`python -m bot` with no tokens, for one test module (skipped without Chromium)."""
    if chromium_path() is None:
        pytest.skip(MISSING)
    with SandboxProcess() as process:
        yield process

"""Take docs/sandbox.png, the README's picture of the sandbox, from the real thing.

    python docs/screenshot.py [OUT.png]

Starts `python -m bot` in sandbox mode (as tests/browser does), plays a short incident in
Debian's Chromium (declare, a status update, the commander role handed over, a word from
a responder) and saves the incident channel. Emoji need a colour emoji font
(`apt-get install fonts-noto-color-emoji`); without one they show as empty boxes.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from tests.browser.chromium import launch  # noqa: E402
from tests.sandbox_process import SandboxProcess  # noqa: E402

OUT = ROOT / "docs" / "sandbox.png"
TITLE = "Checkout API returning 500s"


def send(page: Page, text: str) -> None:
    composer = page.get_by_role("textbox", name="Message")
    composer.fill(text)
    composer.press("Enter")
    expect(composer).to_have_value("")


def play(page: Page) -> None:
    channels = page.get_by_role("navigation", name="Channels")
    channels.get_by_role("link", name="#incidents", exact=True).click()
    send(page, f"/incident declare SEV1 {TITLE}")
    room = channels.get_by_role("link", name=re.compile(r"^#inc-.*checkout"))
    room.click()
    card = page.get_by_role("article").filter(has_text="Pinned").filter(has_text=TITLE)
    expect(card).to_be_visible()

    send(
        page,
        "/incident update Rolled back the 14:02 deploy of checkout-api; "
        "5xx rate down from 38% to 4% and falling. Next check in 10 minutes.",
    )
    expect(card).to_contain_text("Rolled back the 14:02 deploy")
    send(page, "/incident commander @bob")
    expect(card.get_by_text("@bob")).to_be_visible()

    page.get_by_label("Acting as").select_option("U0BOB")
    expect(page.get_by_label("Acting as")).to_have_value("U0BOB")
    send(page, "Taking over as commander. @carol, can you watch the payment provider's status?")
    expect(page.get_by_role("article", name="bob")).to_be_visible()


def main(out: Path) -> int:
    with SandboxProcess() as sandbox, sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(
            viewport={"width": 1440, "height": 820}, locale="en-US", timezone_id="UTC"
        )
        page.goto(sandbox.url)
        play(page)
        page.get_by_role("textbox", name="Message").blur()
        page.mouse.move(0, 0)  # no hover highlight in the picture
        page.screenshot(path=str(out))
        browser.close()
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else OUT))

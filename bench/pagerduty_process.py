"""The fake PagerDuty as a process of its own, for the bench
(`python -m bench.pagerduty_process --webhook-url URL --webhook-secret S`).

It serves bot/fakes/pagerduty (REST, Events API v2) over real HTTP on a free port and
sends its signed v3 webhooks to the bot, as PagerDuty does for the incidents the bot
opens. The first line on stdout is `READY <base url>`; `GET /bench/pages` answers how
many incidents it holds.
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web

from bench.wire import serve
from bot.fakes.pagerduty import FakePagerDuty


class BenchPagerDuty(FakePagerDuty):
    def _routes(self) -> list[web.AbstractRouteDef]:
        return [*super()._routes(), web.get("/bench/pages", self._pages)]

    async def _pages(self, _: web.Request) -> web.Response:
        return web.json_response({"incidents": len(self.incidents)})


async def main() -> None:
    parser = argparse.ArgumentParser(description="the fake PagerDuty, for the bench")
    parser.add_argument("--webhook-url", required=True)
    parser.add_argument("--webhook-secret", required=True)
    args = parser.parse_args()
    fake = BenchPagerDuty(webhook_secret=args.webhook_secret, webhook_url=args.webhook_url)
    await serve(fake)


if __name__ == "__main__":
    asyncio.run(main())

"""The webhook's door to the stream: POSTs arriving together are stored together.

Each POST's batch waits for the event loop's turn to end, and every batch that arrived in
that turn goes to Redis in one script (`Store.alerts_admit`: each batch in turn its
sender's rate booked and the batch appended, or refused, exactly as alone). Each POST is
answered from its own result, once Redis has it: a 200 still means stored. A burst of 50
concurrent one-alert POSTs costs a few calls a turn instead of 50 round trips, each with
its pooled connection, retry wrapper, command packing and reply read: most of the bot's
CPU per POST. A call holds at most `MOST` batches or `MOST_BYTES` of them (so each
answers well within the socket timeout); more go out in further calls at once."""

from __future__ import annotations

import asyncio

from bot.core.store import Admit, Store

MOST = 64
MOST_BYTES = 4 * 1024 * 1024

Answer = tuple[bool | None, float]


class Door:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._waiting: list[tuple[Admit, asyncio.Future[Answer]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def admit(self, admit: Admit) -> Answer:
        """(stored, wait) as `Store.alerts_admit` answers for this batch."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Answer] = loop.create_future()
        self._waiting.append((admit, answer))
        if len(self._waiting) == 1:
            loop.call_soon(self._send)
        return await answer

    def _send(self) -> None:
        waiting, self._waiting = self._waiting, []
        loop = asyncio.get_running_loop()
        while waiting:
            size, n = 0, 0
            while n < len(waiting) and n < MOST and (n == 0 or size < MOST_BYTES):
                size += len(waiting[n][0].batch)
                n += 1
            task = loop.create_task(self._store(waiting[:n]))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
            waiting = waiting[n:]

    async def _store(self, waiting: list[tuple[Admit, asyncio.Future[Answer]]]) -> None:
        try:
            answers = await self.store.alerts_admit([admit for admit, _ in waiting])
        except asyncio.CancelledError:
            for _, answer in waiting:
                answer.cancel()
            raise
        except Exception as exc:  # each POST's handler answers it (a 503: sent again)
            for _, answer in waiting:
                if not answer.done():
                    answer.set_exception(exc)
            return
        for (_, answer), result in zip(waiting, answers, strict=True):
            if not answer.done():  # its POST was given up meanwhile
                answer.set_result(result)

"""The library's long-lived tasks (listener, waker, channel inbox, presence writer): how they
end, and how they wait before reconnecting after their database session was lost."""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import logging
import random
from typing import Any

from listener import conf

logger = logging.getLogger(__name__)


def spawn(coro: collections.abc.Coroutine[Any, Any, None], name: str, what: str) -> asyncio.Task[None]:
    """Start a long-lived task on the running loop; if it ever ends on an error, log it as ``what``.

    These tasks loop until cancelled: any other end means the process lost a part of its
    real-time plumbing, and nothing awaits them to notice.
    """
    task = asyncio.get_running_loop().create_task(coro, name=name)

    def log_exit(done: asyncio.Task[None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            logger.error("%s stopped on an unexpected error", what, exc_info=done.exception())

    task.add_done_callback(log_exit)
    return task


def running(task: asyncio.Task[Any] | None) -> bool:
    return task is not None and not task.done()


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` and wait until it has ended, so its connection is closed when this returns."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class Backoff:
    """Waits between reconnection attempts: exponential, capped, with full jitter.

    Every process of a fleet loses its sessions at once when Postgres restarts; jitter spreads
    their reconnections instead of sending them all back together.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self.attempt = 0

    def reset(self) -> None:
        """Connected again: the next loss starts from the shortest wait."""
        self.attempt = 0

    async def wait(self, exc: BaseException) -> None:
        delay = random.uniform(0, min(conf.reconnect_cap(), conf.reconnect_base() * 2**self.attempt))
        self.attempt += 1
        text = str(exc).strip()
        logger.warning(
            "%s connection lost (%s); reconnecting in %.2fs (attempt %d)",
            self.what,
            text.splitlines()[0] if text else type(exc).__name__,
            delay,
            self.attempt,
        )
        await asyncio.sleep(delay)

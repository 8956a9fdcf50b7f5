"""Handshake reads wait their turn behind a crowd's, and give up only when nothing moves.

Real threads (the handshake executor), reads that take a while: a queue longer than the
timeout is waited for as long as reads keep finishing; a read stuck while no other finishes
(Postgres away) fails with TimeoutError, which the handshake turns into 4503.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from listener import conf
from listener.sockets import handshake_threads

# The reads run through database_sync_to_async, which tidies the thread's connections.
pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_queue_that_moves_is_waited_for(settings: Any) -> None:
    settings.REALTIME_HANDSHAKE_THREADS = 4
    threads = conf.handshake_threads()
    assert threads > 0
    # Each read takes a quarter of the timeout; the last of them finishes after 2 timeouts.
    timeout = 2.0
    reads = threads * 8

    def read(i: int) -> int:
        time.sleep(timeout / 4)
        return i

    got = await asyncio.gather(
        *(handshake_threads.bounded(lambda i=i: read(i), timeout) for i in range(reads))
    )
    assert got == list(range(reads))


async def test_a_read_stuck_with_nothing_else_finishing_times_out() -> None:
    release = threading.Event()

    def stuck() -> None:
        release.wait(30)

    try:
        with pytest.raises(TimeoutError):
            await handshake_threads.bounded(stuck, 0.5)
    finally:
        release.set()

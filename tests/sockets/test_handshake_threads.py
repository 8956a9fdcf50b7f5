"""Handshake reads wait their turn behind a crowd's, and give up only when nothing moves.

Real threads (the handshake executor), reads that take a while: a queue longer than the
timeout is waited for as long as reads keep finishing, and one that has its connection waits for
Postgres's answer. A read that gets no connection while no other read finishes (Postgres away)
fails with TimeoutError, which the handshake turns into 4503: tests/ops/test_connection_bound.py
stops a pooled server's Postgres under a real daphne (in-process tests are not pooled).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from django.db import connection

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


async def test_a_read_that_has_its_connection_is_not_timed_out() -> None:
    """A statement that Postgres holds (a lock, a slow plan) is Postgres's to answer: it runs
    past the timeout and its answer is returned."""

    def slow() -> int:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_sleep(1.5), 7")
            row: tuple[Any, int] = cur.fetchone()
        return row[1]

    assert await handshake_threads.bounded(slow, 0.5) == 7

"""The threads that run handshakes' database reads: a few of their own, not Channels' one.

Channels runs every ``database_sync_to_async`` call of a process on one thread, one at a time.
A handshake's reads there are short (two statements, then one transaction), but each round trip
hands the GIL back to an event loop that a crowd of handshakes keeps busy, and the thread waits
up to the interpreter's switch interval (5 ms) to get it again: with one thread those waits add
up, one handshake after another, and a deploy's reconnect storm queues behind them. With a few
threads the waits overlap (and ``access_batches`` reads the access checks and user reads that
wait for them a batch per transaction). Each call is self-contained, as Django's connection-per-thread rule
wants: it takes a connection at its first query and gives it back when it returns (to the
pool; without one, only a CONN_MAX_AGE above 0 keeps it, with its thread), so no transaction
outlives a call and no connection crosses threads. Other database work (re-checks,
replays, presence) stays on Channels' thread.

These threads tidy their connections themselves (`own_connections`), before and after each
call, rather than through ``database_sync_to_async``: Channels' test communicators replace its
tidying with a no-op while a test awaits a socket (``channels.testing.ApplicationCommunicator``),
which is all the time a handshake runs, so a handshake thread's connection outlived every call
and a backend terminated meanwhile (an outage, a restarted Postgres, ``pg_terminate_backend``)
failed the thread's next handshake with 4503. Channels' own thread is tidied again by the next
call outside those windows; a handshake thread has no such call.

`started` gives up on a read that has no connection yet when the handshake reads have made no
progress for a while: a crowd's reads queue for seconds behind each other and must not be refused
for it (uvicorn lets them wait), but with Postgres away nothing finishes, and the page must hear
4503 rather than wait. A read that has its connection is Postgres's to answer: one held by a lock
(a migration's) opens late rather than failing.
"""

from __future__ import annotations

import asyncio
import collections.abc
import concurrent.futures
import functools
import time
from typing import TypeVar

from channels.db import database_sync_to_async
from django import db

from listener import conf

R = TypeVar("R")


@functools.cache
def executor() -> concurrent.futures.ThreadPoolExecutor:
    """The handshake threads (``REALTIME_HANDSHAKE_THREADS``, above 0)."""
    return concurrent.futures.ThreadPoolExecutor(
        max_workers=conf.handshake_threads(), thread_name_prefix="realtime-handshake"
    )


def _on_channels_thread(
    fn: collections.abc.Callable[[], R], connected: list[bool]
) -> collections.abc.Awaitable[R]:
    """``fn()`` on Channels' one database thread (``REALTIME_HANDSHAKE_THREADS = 0``)."""
    return database_sync_to_async(functools.partial(_read, fn, connected))()


def _read(fn: collections.abc.Callable[[], R], connected: list[bool]) -> R:
    """``fn()`` once this thread has a connection (``connected[0]`` is set then); its end, however
    it ends, is progress for every read that waits (`started`)."""
    try:
        db.connection.ensure_connection()  # a pooled one, checked: Postgres is there
        connected[0] = True
        return fn()
    finally:
        progressed()


def progressed() -> None:
    """A handshake read ended, however: progress for every read that waits (`started`). Set by
    the thread: a crowd can keep the event loop too busy to hear of it for seconds."""
    _last_done[0] = time.monotonic()


def own_connections(fn: collections.abc.Callable[[], R]) -> R:
    """``fn()`` between two ``close_old_connections()``: what ``database_sync_to_async`` does,
    by a name that test harnesses do not patch. With the pool that returns the connection
    (and the next call's checkout checks it); without it, CONN_MAX_AGE decides, and a kept
    connection is health-checked before its next use (CONN_HEALTH_CHECKS)."""
    db.close_old_connections()
    try:
        return fn()
    finally:
        db.close_old_connections()


# When a handshake read last finished (time.monotonic()).
_last_done = [0.0]


# Starts a read on the handshake threads: it sets ``connected[0]`` once it has its connection.
Start = collections.abc.Callable[[list[bool]], collections.abc.Awaitable[R]]


async def started(start: Start[R], what: str) -> R:
    """The read ``start`` begins (``access_batches``), given up once it has no connection and no
    handshake read has finished for REALTIME_HANDSHAKE_DATABASE_TIMEOUT (a queue that moves is
    waited for): a database error then (the socket closes with 4503, never 4401), before
    daphne's default 5 s drops the handshake. Watched by one timer that moves on while reads
    finish, rather than by ``asyncio.wait`` (a set, a waiter future and callbacks per call: a
    crowd's handshakes pay it each)."""
    timeout = conf.handshake_database_timeout()
    connected = [False]
    read = asyncio.ensure_future(start(connected))
    loop = asyncio.get_running_loop()
    since = time.monotonic()
    expired = False
    timer: asyncio.TimerHandle | None = None

    def watch() -> None:
        nonlocal timer, expired
        if connected[0]:
            return
        left = max(since, _last_done[0]) + timeout - time.monotonic()
        if left > 0:
            timer = loop.call_later(left, watch)
        else:
            expired = True
            read.cancel()

    timer = loop.call_later(timeout, watch)
    try:
        return await read
    except asyncio.CancelledError:
        if expired:
            raise db.OperationalError(
                "no database answer to the %s within %.1f s" % (what, timeout)
            ) from None
        raise
    finally:
        if timer is not None:
            timer.cancel()
        read.cancel()


async def read(fn: collections.abc.Callable[[], R], what: str) -> R:
    """`started`, of ``fn()`` on Channels' database thread (``REALTIME_HANDSHAKE_THREADS = 0``)."""
    return await started(functools.partial(_on_channels_thread, fn), what)

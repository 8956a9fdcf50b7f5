"""Reading the log after a cursor, in pages: for resuming sockets and ``manage.py listen --since``.

Pages are read on Channels' database thread like every other query, but at most
``REALTIME_REPLAY_SLOTS`` of them are queued there at a time per process: however many pages
resume at once, a new socket's session and access queries wait behind that many pages, not
behind one page per resuming socket. Building the events (cursor encoding and
signing) happens on the event loop in small chunks, not on that shared thread.
"""

from __future__ import annotations

import asyncio
import collections.abc
import dataclasses
import logging
import weakref
from typing import Any, TypeVar

from channels.db import database_sync_to_async
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from listener import conf, queries, statements
from listener.log import cursors, events

logger = logging.getLogger(__name__)

# What a socket's access check returns (a close, or None to let it in).
Refusal = TypeVar("Refusal")

# Events built between two yields to the event loop.
_CHUNK = 50

_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


@dataclasses.dataclass(frozen=True)
class Page:
    """The events of one replay query that the cursor had not seen, and where the next starts."""

    events: list[events.LogEvent]
    after: tuple[int, int]
    last: bool


async def pages(
    topics: list[str] | None,
    since: cursors.Cursor,
    until: cursors.Snapshot,
    size: int | None = None,
) -> collections.abc.AsyncIterator[Page]:
    """The events of ``topics`` (None: all) after ``since`` and visible in ``until``, page by page.

    Each event carries the exact cursor of its own frame. The next page is read only when the
    caller asks for it, so a caller that first hands a page to its client holds one page at a time.
    """
    limit = size or conf.replay_page()
    after = (0, 0)
    while True:
        async with _slots_of_this_loop():
            rows = await _read(topics, since, until, after, limit)
        found: list[events.LogEvent] = []
        for start in range(0, len(rows), _CHUNK):
            found.extend(
                events.from_row(row, since, until)
                for row in rows[start : start + _CHUNK]
                if not since.seen(int(row[1]), row[0])
            )
            # Encoding and signing cursors is the costly part: let handshakes in between.
            await asyncio.sleep(0)
        if rows:
            after = (int(rows[-1][1]), rows[-1][0])
        yield Page(found, after, len(rows) < limit)
        if len(rows) < limit:
            return


def resume_point(
    authorize: collections.abc.Callable[[], Refusal],
) -> tuple[Refusal, cursors.Snapshot, int]:
    """Where a resuming socket stops replaying, how far the log was pruned, and its access.

    Read in one REPEATABLE READ snapshot so that they agree: the replay ends exactly where the
    access check looked, and the live events after it pass the same filter. Every socket's
    handshake runs this: the isolation level is set by the same statement (one round trip) as
    the first read, which takes the snapshot.
    """
    with transaction.atomic():
        until, pruned_below = snapshot()
        refusal = authorize()
    return refusal, until, pruned_below


def snapshot() -> tuple[cursors.Snapshot, int]:
    """The first statement of a `resume_point` transaction (opened by the caller): it makes the
    transaction REPEATABLE READ and takes its snapshot; that snapshot, and how far the log was
    pruned. Several sockets' access checks may share it (``listener.sockets.access_batches``)."""
    # The connection itself, not django.db.connection's proxy, which looks it up anew for
    # each of the cursor's dozen attribute reads.
    with statements.cursor(connections[DEFAULT_DB_ALIAS]) as cur:
        cur.execute(queries.get("resume_point"))
        cur.nextset()  # past SET TRANSACTION's empty result, to the SELECT's row
        until, pruned_below = cur.fetchone()
    return cursors.Snapshot.parse(until), int(pruned_below)


async def current_snapshot() -> cursors.Snapshot:
    """The database's snapshot now: the end of a replay that a live tail continues."""
    return await _current_snapshot()


def _current_snapshot_now() -> cursors.Snapshot:
    with connection.cursor() as cur:
        cur.execute(queries.get("current_snapshot"))
        return cursors.Snapshot.parse(cur.fetchone()[0])


def _read_page(
    topics: list[str] | None,
    since: cursors.Cursor,
    until: cursors.Snapshot,
    after: tuple[int, int],
    limit: int,
) -> list[tuple[Any, ...]]:
    with connection.cursor() as cur:
        cur.execute(
            queries.get("replay_page"),
            {
                "topics": topics,
                "since": str(since.snapshot),
                "until": str(until),
                "after_xid": str(after[0]),
                "after_id": after[1],
                "limit": limit,
            },
        )
        rows: list[tuple[Any, ...]] = cur.fetchall()
        return rows


_current_snapshot = database_sync_to_async(_current_snapshot_now)
_read = database_sync_to_async(_read_page)


def _slots_of_this_loop() -> asyncio.Semaphore:
    # One semaphore per event loop: tests run one loop each, and a semaphore is bound to one.
    loop = asyncio.get_running_loop()
    found = _slots.get(loop)
    if found is None:
        found = _slots[loop] = asyncio.Semaphore(conf.replay_slots())
    return found

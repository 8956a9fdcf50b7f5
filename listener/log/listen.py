"""The LISTEN loop: wake on NOTIFY, read the log in snapshot steps, hand events to a sink.

One listener runs in every server process, on its own autocommit connection. NOTIFY only
wakes it: what to deliver comes from the log, read as "committed after my last snapshot and
visible now". After a dropped connection it reconnects and the same step catches up, so an
outage delays events but never loses or repeats one.
"""

from __future__ import annotations

import asyncio
import collections.abc
import dataclasses
import logging
import time
from typing import Any

import psycopg

from listener import conf, connection, metrics, pools, queries, tasks
from listener.log import cursors, events

logger = logging.getLogger(__name__)

CHANNEL = "realtime_events"

Sink = collections.abc.Callable[[events.LogEvent], None]
# Told the backend pid of each NOTIFY's sender (the waker counts its own wake-ups this way).
Heard = collections.abc.Callable[[int], None]


@dataclasses.dataclass
class _Position:
    """How far a step has dispatched: the last event handed to the sink, and the step's snapshot."""

    until: cursors.Snapshot
    xid: int = 0
    id: int = 0


class Listener:
    """Follows the event log of one database and passes each new event, in order, to a sink."""

    def __init__(self, sink: Sink, since: cursors.Snapshot | None = None, heard: Heard | None = None) -> None:
        self.sink = sink
        self.heard = heard
        # The snapshot of the last step: every event it sees has been handed to the sink.
        self.snapshot: cursors.Snapshot | None = since
        # A step read in part (its pages are read up to one snapshot): where it stopped.
        self._unfinished: _Position | None = None
        self.ready = asyncio.Event()
        self.connected = False
        self.reconnects = 0
        self.events_read = 0
        self.last_wakeup: float | None = None
        self.last_lag: float | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        self.loop = asyncio.get_running_loop()
        self._task = tasks.spawn(self.run(), "realtime-listener", "listener")
        return self._task

    @property
    def running(self) -> bool:
        return tasks.running(self._task)

    async def stop(self) -> None:
        await tasks.cancel_and_wait(self._task)
        self._task = None

    async def run(self) -> None:
        backoff = tasks.Backoff("listener")
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    connection.listener_conninfo(), autocommit=True
                ) as conn:
                    await connection.end_with_client(conn)
                    await conn.execute("LISTEN %s" % CHANNEL)
                    if self.snapshot is None:
                        row = await (await conn.execute(queries.get("current_snapshot"))).fetchone()
                        assert row is not None
                        self.snapshot = cursors.Snapshot.parse(row[0])
                    if backoff.attempt:
                        # Pooled sessions opened while this one was away may have died since.
                        await asyncio.to_thread(pools.drain)
                    self.connected = True
                    backoff.reset()
                    logger.info("listener connected, resuming after snapshot %s", self.snapshot)
                    # LISTEN comes first, so a commit after this step still wakes the next one.
                    await self.step(conn)
                    self.ready.set()
                    await self._follow(conn)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                if self.connected:
                    # Lost a working session: the pooled ones most likely went with it.
                    await asyncio.to_thread(pools.drain)
                self.connected = False
                self.reconnects += 1
                metrics.LISTENER_RECONNECTS.inc()
                await backoff.wait(exc)
            finally:
                self.connected = False

    async def _follow(self, conn: psycopg.AsyncConnection) -> None:
        timeout = conf.poll_interval()
        if conf.notify() is conf.Notify.OFF:
            # Our own writers do not NOTIFY: read the log at a short interval instead.
            timeout = conf.quiet_poll_interval()
        while True:
            # Any number of NOTIFYs (or none, at the poll interval) lead to one step.
            async for notify in conn.notifies(timeout=timeout, stop_after=1):
                if self.heard is not None:
                    self.heard(notify.pid)
            self.last_wakeup = time.time()
            await self.step(conn)

    async def step(self, conn: psycopg.AsyncConnection) -> int:
        """Read the events committed since the last snapshot and dispatch them in order.

        The log is read in pages of REALTIME_REPLAY_PAGE events, keyset on ``(xid, id)`` up to
        one snapshot taken by the first page, so a transaction of any size costs one page of
        memory. A step cut short by a lost connection is finished by the next call from the
        last event dispatched, so nothing is dispatched twice.
        """
        assert self.snapshot is not None
        page = conf.replay_page()
        count = 0
        if self._unfinished is None:
            cur = await conn.execute(
                queries.get("events_since"), {"since": str(self.snapshot), "limit": page}
            )
            rows = await cur.fetchall()
            self._unfinished = _Position(cursors.Snapshot.parse(rows[0][0]))
            found = [row[1:] for row in rows if row[1] is not None]
            count += self._dispatch(found)
            more = len(found) >= page
        else:
            more = True
        position = self._unfinished
        while more:
            cur = await conn.execute(
                queries.get("replay_page"),
                {
                    "topics": None,
                    "since": str(self.snapshot),
                    "until": str(position.until),
                    "after_xid": str(position.xid),
                    "after_id": position.id,
                    "limit": page,
                },
            )
            found = await cur.fetchall()
            count += self._dispatch(found)
            more = len(found) >= page
        self.snapshot = position.until
        self._unfinished = None
        return count

    def _dispatch(self, rows: list[tuple[Any, ...]]) -> int:
        """Hand one page of the current step to the sink, each event with its frame's cursor."""
        assert self.snapshot is not None and self._unfinished is not None
        position = self._unfinished
        base = cursors.Cursor(self.snapshot)
        worst = 0.0
        for row in rows:
            # Commit-to-dispatch lag, from the writing transaction's start (the row's `created`).
            self.last_lag = time.time() - row[5]
            worst = max(worst, self.last_lag)
            event = events.from_row(tuple(row), base, position.until)
            position.xid, position.id = event.xid, event.id
            self.sink(event)
        if rows:
            metrics.DISPATCH_LAG.observe(worst)
        self.events_read += len(rows)
        metrics.EVENTS_READ.inc(len(rows))
        return len(rows)

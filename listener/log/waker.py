"""The elected waker: one session per database wakes every listener, so writers need not NOTIFY.

Why: a NOTIFYing transaction holds a database-wide lock from pre-commit to the end of its
commit and signals every LISTENing backend, so concurrent writers commit one at a time, and
each commit costs once per server process. With ``REALTIME_NOTIFY = "waker"`` (the default)
this project's connections write events without NOTIFY, and one waker per database reads the
log's head every ``REALTIME_WAKER_INTERVAL`` and sends one NOTIFY per tick in which an event
became visible: writers never queue on the lock, and N listeners cost one NOTIFY per tick,
not one per commit. Writers elsewhere (psql, other apps) still NOTIFY themselves.

The loop itself runs inside Postgres (``realtime_waker_v2``, one CALL that commits once per
tick and never returns): driven from Python, its 200 queries a second cost the elected process
about 9% of a core while idle, and Python nothing now. Its session shows one long-running
``CALL realtime_waker_v2(...)`` in ``pg_stat_activity`` (application ``realtime-waker``).

No process can hold the listeners hostage. The loop sends its client nothing (v1 raised a
notice per wake-up; a frozen client stopped reading, the loop blocked in ClientWrite with the
lock held, and every listener fell back to its safety poll), so it keeps waking everyone while
its own process is frozen, stalled or cut off. A process that is gone ends its session within
``connection.CLIENT_CHECK_INTERVAL`` (a silent network loss: the server's TCP keepalives), and
a standby takes over. A lease (the holder renews, a standby takes over when it lapses) was
weighed and left out: the loop needs nothing from its client, so a lease would hand the work
away from a loop that is doing it, add a write per renewal, and leave a gap of one lease at
each hand-over; it would only help against a backend stuck inside Postgres itself.

Election: every server process runs a waker next to its listener; each blocks on one session
advisory lock on its own connection, so standbys cost an idle connection and no queries. When
the holder's session ends (process gone, backend terminated) Postgres grants the lock to a
waiting one at once, which NOTIFYs once on taking over: events of the gap are not left to
the listeners' safety poll.

Alternatives weighed: polling in every listener (``"off"``) costs every process a query per
few ms whatever the traffic; a per-listener throttle still costs each writer the NOTIFY lock;
an unconditional timed NOTIFY wakes every process even when nothing happened. Testing "new
since the last tick" by ``max(id)`` would miss a transaction that commits a lower id after a
higher one was seen, so the tick compares visibility against its previous snapshot instead.
"""

from __future__ import annotations

import asyncio
import enum
import logging

import psycopg
from psycopg import conninfo

from listener import conf, connection, queries, tasks

logger = logging.getLogger(__name__)

# The advisory lock the wakers of one database compete for ("realtime" in ASCII).
LOCK_KEY = 0x7265616C74696D65


class WakerState(enum.Enum):
    STOPPED = "stopped"
    CONNECTING = "connecting"
    STANDBY = "standby"
    LEADING = "leading"


class Waker:
    """Competes for the waker lock of its database and, while it holds it, wakes the listeners."""

    def __init__(self) -> None:
        self.state = WakerState.STOPPED
        # Set while this waker holds the lock; tests and /health wait on it.
        self.leading = asyncio.Event()
        self.elections = 0
        # NOTIFYs this waker's session sent that this process's listener received (the loop
        # cannot report them itself: it must not write to its client).
        self.wakeups = 0
        self.backend_pid: int | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        self.loop = asyncio.get_running_loop()
        self._task = tasks.spawn(self.run(), "realtime-waker", "waker")
        return self._task

    @property
    def running(self) -> bool:
        return tasks.running(self._task)

    async def stop(self) -> None:
        # Cancelling a blocked lock wait cancels it on the server too (psycopg does).
        await tasks.cancel_and_wait(self._task)
        self._task = None
        self.state = WakerState.STOPPED

    async def run(self) -> None:
        backoff = tasks.Backoff("waker")
        while True:
            self.state = WakerState.CONNECTING
            try:
                async with await psycopg.AsyncConnection.connect(
                    conninfo.make_conninfo(connection.listener_conninfo(), application_name="realtime-waker"),
                    autocommit=True,
                ) as conn:
                    self.backend_pid = conn.info.backend_pid
                    self.state = WakerState.STANDBY
                    backoff.reset()
                    await connection.end_with_client(conn)
                    # The lock wait and the loop are single statements that last for hours.
                    await conn.execute(queries.get("waker_session"))
                    await conn.execute(queries.get("waker_lock"), {"key": LOCK_KEY})
                    await self._lead(conn)
            except psycopg.Error as exc:
                # Lost connection, or a database not migrated yet: the lock went with the
                # session, another process may take over.
                await backoff.wait(exc)
            finally:
                self.leading.clear()
                self.backend_pid = None

    async def _lead(self, conn: psycopg.AsyncConnection) -> None:
        self.state = WakerState.LEADING
        self.elections += 1
        row = await (await conn.execute(queries.get("waker_elected"))).fetchone()
        assert row is not None
        seen: str = row[0]
        self.leading.set()
        logger.info("waker elected (backend %s): this process wakes the listeners", self.backend_pid)
        interval = conf.waker_interval()
        # After a wake-up, wait longer: under steady traffic every listener then reads a batch
        # per REALTIME_WAKER_BUSY_INTERVAL instead of a few events per tick (a step costs about
        # the same for one event as for fifty), while a write after a quiet spell still waits
        # at most one short tick.
        busy = max(interval, conf.waker_busy_interval())
        await conn.execute(queries.get("waker_loop"), {"seen": seen, "quiet": interval, "busy": busy})
        raise psycopg.ProgrammingError("realtime_waker_v2 returned; it runs until its session ends")

    def heard(self, pid: int) -> None:
        """A NOTIFY from backend ``pid`` reached a listener of this process: a wake-up of ours?"""
        if pid == self.backend_pid and self.state is WakerState.LEADING:
            self.wakeups += 1


_waker: Waker | None = None


def enabled() -> bool:
    return conf.notify() is conf.Notify.WAKER


def current() -> Waker | None:
    return _waker


def ensure_started() -> Waker | None:
    """Start this process's waker beside its listener (cheap when it runs; none unless enabled).

    As with the listener, a waker whose event loop has gone (one loop per test) is replaced.
    """
    global _waker
    loop = asyncio.get_running_loop()
    if _waker is not None and _waker.loop is loop and _waker.running:
        return _waker  # every connection asks: the setting is read only when none runs
    if not enabled():
        return None
    if _waker is None or _waker.loop is not loop or not _waker.running:
        if _waker is not None and _waker.loop is loop:
            logger.error("waker task ended; starting a new one")
        _waker = Waker()
        _waker.start()
    return _waker


def heard(pid: int) -> None:
    """The listener's hook: count the NOTIFYs of this process's waker that it received."""
    if _waker is not None:
        _waker.heard(pid)


async def stop() -> None:
    global _waker
    if _waker is not None:
        await _waker.stop()
        _waker = None

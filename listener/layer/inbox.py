"""This process's end of the cross-process channel queues.

Messages for channels live in ``listener_channelmessage`` until a receiver takes them. One
LISTEN connection per process (opened by the first ``receive``, on the running loop) hears
which queues got mail: a NOTIFY names a named channel, or the ``specific.<process>`` head of a
process's channels. The inbox claims all of its own process's messages in one query and
buffers them per channel (a group message for several of them goes to ``queued``, which
hands it to each); named channels are claimed one message at a time by their receivers,
which this only wakes.
"""

from __future__ import annotations

import asyncio
import collections
import collections.abc
import enum
import logging
import math
import time
from typing import Any

import psycopg
from psycopg import conninfo

from listener import conf, connection, exceptions, queries, tasks
from listener.layer import codec, database, queued

logger = logging.getLogger(__name__)

CHANNEL = "realtime_channels"
# Seconds between looks of a named-channel receiver on a loop other than the inbox's.
FOREIGN_LOOP_POLL = 0.05


class InboxState(enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    LISTENING = "listening"


class Buffer:
    """Messages for one channel of this process, oldest first, until its receiver takes them."""

    def __init__(self) -> None:
        self.items: collections.deque[tuple[float, dict[str, Any]]] = collections.deque()
        self._wakeup: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def put(self, expires: float, message: dict[str, Any]) -> None:
        self.items.append((expires, message))
        if self._wakeup is None or self._loop is None:
            return
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is self._loop:
            self._wakeup.set()
        elif not self._loop.is_closed():
            # The receiver waits on another thread's loop.
            self._loop.call_soon_threadsafe(self._wakeup.set)

    def drop_expired(self) -> None:
        now = time.time()
        while self.items and self.items[0][0] <= now:
            self.items.popleft()

    async def get(self) -> dict[str, Any]:
        while True:
            self.drop_expired()
            if self.items:
                return self.items.popleft()[1]
            loop = asyncio.get_running_loop()
            if self._wakeup is None or self._loop is not loop:
                self._wakeup, self._loop = asyncio.Event(), loop
            self._wakeup.clear()
            await self._wakeup.wait()

    @property
    def waited_on(self) -> bool:
        return self._wakeup is not None and not self._wakeup.is_set()


class Inbox:
    """Claims this process's channel messages and wakes receivers of named channels."""

    def __init__(
        self,
        heads: set[str],
        capacity: collections.abc.Callable[[str], int],
        db: database.LayerConnection,
    ) -> None:
        # The `<prefix><process>` parts (before "!") of the channel names this process issued.
        self.heads = heads
        self.state = InboxState.IDLE
        self.buffers: dict[str, Buffer] = {}
        self._capacity = capacity
        self._generations: dict[str, int] = {}
        self._conditions: dict[str, asyncio.Condition] = {}
        self._ready: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # The layer's connection, which also writes and deletes the rows that stand for its
        # plain group members: renewing them on it keeps the three in the order they were asked.
        self._db = db
        # When those rows were last renewed.
        self._renewed = -math.inf

    def buffer(self, channel: str) -> Buffer:
        found = self.buffers.get(channel)
        if found is None:
            found = self.buffers[channel] = Buffer()
        return found

    def ensure_started(self) -> None:
        loop = asyncio.get_running_loop()
        if tasks.running(self._task):
            assert self._loop is not None
            # Still served: from this loop, or from another thread's running loop.
            if self._loop is loop or (self._loop.is_running() and not self._loop.is_closed()):
                return
        self._loop, self._ready, self._conditions = loop, asyncio.Event(), {}
        self._task = tasks.spawn(self._run(), "realtime-channel-inbox", "channel inbox")

    async def started(self) -> None:
        """Return once this process LISTENs, so no wake-up after this call is missed."""
        self.ensure_started()
        assert self._ready is not None
        timeout = conf.listener_ready_timeout()
        try:
            if asyncio.get_running_loop() is self._loop:
                await asyncio.wait_for(self._ready.wait(), timeout)
            else:
                await asyncio.wait_for(self._ready_elsewhere(), timeout)
        except TimeoutError as exc:
            raise exceptions.ChannelLayerUnavailable(
                "the channel layer could not LISTEN within %ss" % timeout
            ) from exc

    async def _ready_elsewhere(self) -> None:
        assert self._ready is not None
        while not self._ready.is_set():
            await asyncio.sleep(FOREIGN_LOOP_POLL)

    def generation(self, channel: str) -> int:
        return self._generations.get(channel, 0)

    async def wait(self, channel: str, seen: int) -> None:
        """Wait until ``channel`` was woken after ``seen``, or the poll interval passed."""
        if asyncio.get_running_loop() is not self._loop:
            # The inbox runs on another thread's loop and cannot wake this one: look often.
            await asyncio.sleep(FOREIGN_LOOP_POLL)
            return
        condition = self._conditions.get(channel)
        if condition is None:
            condition = self._conditions[channel] = asyncio.Condition()
        async with condition:
            try:
                await asyncio.wait_for(
                    condition.wait_for(lambda: self.generation(channel) != seen),
                    conf.poll_interval(),
                )
            except TimeoutError:
                pass

    async def stop(self) -> None:
        if self._task is not None and not self._task.done() and self._loop is asyncio.get_running_loop():
            await tasks.cancel_and_wait(self._task)
        self._task = None
        self.state = InboxState.IDLE

    async def _run(self) -> None:
        backoff = tasks.Backoff("channel inbox")
        while True:
            self.state = InboxState.CONNECTING
            try:
                dsn = conninfo.make_conninfo(
                    connection.listener_conninfo(), application_name="realtime-channel-inbox"
                )
                async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                    await connection.end_with_client(conn)
                    await conn.execute("LISTEN %s" % CHANNEL)
                    self.state = InboxState.LISTENING
                    backoff.reset()
                    await self._claim(conn)
                    # Rows for group members may have expired while we were away.
                    await self._renew()
                    # Receivers that waited while we were away look again.
                    await self._wake(set(self._conditions))
                    assert self._ready is not None
                    self._ready.set()
                    await self._follow(conn)
            except Exception as exc:
                if not isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
                    # Receivers wait on this task: log and go on rather than leave them hanging.
                    logger.exception("channel inbox failed; restarting it")
                await backoff.wait(exc)

    async def _follow(self, conn: psycopg.AsyncConnection[Any]) -> None:
        poll = conf.poll_interval()
        swept = time.monotonic()
        while True:
            woken: set[str] = set()
            async for notify in conn.notifies(timeout=poll, stop_after=1):
                woken.add(notify.payload)
            # Take whatever else has already arrived, so a burst costs one claim.
            async for notify in conn.notifies(timeout=0):
                woken.add(notify.payload)
            if not woken or time.monotonic() - swept > poll:
                # Nothing for a while (or a missed wake-up): look anyway, and drop expired mail.
                swept = time.monotonic()
                await self._sweep(conn)
                woken |= self.heads | set(self._conditions)
            if woken & self.heads:
                await self._claim(conn)
            await self._wake(woken & set(self._conditions))

    async def _claim(self, conn: psycopg.AsyncConnection[Any]) -> None:
        full = [ch for ch, buf in self.buffers.items() if len(buf.items) >= self._capacity(ch)]
        cur = await conn.execute(
            queries.get("channel_claim_queue"), {"queues": sorted(self.heads), "full": full}
        )
        held = set(full)
        for channel, payload, expires, _ in await cur.fetchall():
            if queued.is_marker(channel):
                # A group_send for several of our channels, in line with the sends to them.
                queued.deliver(channel, payload, expires, held)
                continue
            try:
                message = codec.decode(payload)
            except ValueError:
                logger.error("message for %s is not a channel message; dropped: %.200r", channel, payload)
                continue
            self.buffer(channel).put(expires, message)

    async def _sweep(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute(queries.get("channel_expire"))
        await conn.execute(queries.get("group_member_expire"))
        if time.monotonic() - self._renewed > queued.RENEW_EVERY:
            await self._renew()
        for channel, buf in list(self.buffers.items()):
            buf.drop_expired()
            if not buf.items and not buf.waited_on:
                del self.buffers[channel]

    async def _renew(self) -> None:
        self._renewed = time.monotonic()
        rows = queued.renewals(self.heads)
        if rows["channels"]:
            await self._db.fetch("group_member_renew", rows)

    async def _wake(self, channels: collections.abc.Iterable[str]) -> None:
        for channel in channels:
            self._generations[channel] = self.generation(channel) + 1
            condition = self._conditions[channel]
            async with condition:
                condition.notify_all()

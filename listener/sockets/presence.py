"""Who is online on a topic, across server processes, with Postgres as the only bus.

A consumer class opts in with ``presence = listener.Presence(key="room")``. Each server process
counts its open sockets per (topic, user) in memory and keeps one row in ``listener_presence``
while the count is above zero; the table's statement triggers publish ``did_alter_presence`` on
the topic for the users whose first row across all processes appeared or whose last one went
(``listener/sql/realtime_presence_changed_v2.sql``): ``join`` / ``leave`` for one user, ``sync``
for several. So several tabs, on one process or on several, count once, and the events travel
through the event log with cursors like any other.

Rows are written by one task per process. It waits ``REALTIME_PRESENCE_WINDOW`` after the first
change, then writes what is open against what it wrote, in one transaction: a crowd opening a
room within a window is one event per topic (one frame per page, not one per user), and a tab
opened and closed within it writes nothing. The same task beats the process's heartbeat row
every ``REALTIME_PRESENCE_HEARTBEAT`` seconds and removes the rows of processes silent for
``REALTIME_PRESENCE_TIMEOUT`` seconds (killed without closing their sockets): their users'
leaves follow within timeout + heartbeat, one event per topic.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import logging
import os
import random
import secrets
from typing import Any

from listener import conf, exceptions, tasks
from listener.layer import database

logger = logging.getLogger(__name__)

Key = tuple[str, str]  # (topic, user id)


@dataclasses.dataclass(frozen=True)
class Presence:
    """A consumer's presence declaration: ``key`` names the topic's key in the event's kwargs."""

    key: str

    def payload(self, topic: str, user: Any) -> dict[str, Any]:
        """What join and leave carry besides ``action``: the topic's key and the user."""
        topic_key = topic.split("_", 1)[1] if "_" in topic else topic
        return {self.key: topic_key, "user": {"id": str(user.pk), "username": user.get_username()}}


def online(topic: str) -> set[str]:
    """Ids (strings) of the users online on ``topic``, read in the caller's transaction.

    Inside ``listener.consistent_read`` it agrees with the page's cursor: a join or leave is in
    the snapshot exactly when its row change is.
    """
    from listener import models  # the app registry is ready by the time a page renders

    rows = models.Presence.objects.filter(topic=topic).values_list("user_id", flat=True)
    return set(rows)


class TrackerState(enum.Enum):
    RUNNING = "running"
    STOPPED = "stopped"


class Tracker:
    """This process's open sockets per (topic, user), and the task that mirrors them in Postgres."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.process = "%s-%d" % (secrets.token_hex(6), os.getpid())
        self.state = TrackerState.RUNNING
        self._counts: dict[Key, int] = {}
        self._payloads: dict[Key, str] = {}
        self._sockets: dict[object, Key] = {}
        self._written: set[Key] = set()
        # Keys whose count went from or to zero since the last write, last change last: the
        # order in which a window's users joined or left.
        self._changed: dict[Key, None] = {}
        self._dirty = asyncio.Event()
        self._window = conf.presence_window()
        self._db = database.LayerConnection()
        self._task = tasks.spawn(self._run(), "realtime-presence %s" % self.process, "presence writer")

    def open(self, socket: object, topic: str, user_id: str, payload: dict[str, Any]) -> None:
        if socket in self._sockets:
            return
        key = (topic, user_id)
        self._sockets[socket] = key
        self._counts[key] = self._counts.get(key, 0) + 1
        self._payloads[key] = json.dumps(payload)
        if self._counts[key] == 1:
            self._touch(key)

    def close(self, socket: object) -> None:
        key = self._sockets.pop(socket, None)
        if key is None:
            return
        left = self._counts[key] - 1
        if left:
            self._counts[key] = left
        else:
            del self._counts[key]
            self._touch(key)

    def _touch(self, key: Key) -> None:
        self._changed.pop(key, None)
        self._changed[key] = None
        self._dirty.set()

    async def stop(self) -> None:
        """Leave everywhere at once (a clean shutdown), instead of waiting to be reaped."""
        self.state = TrackerState.STOPPED
        await tasks.cancel_and_wait(self._task)
        try:
            await self._db.fetch("presence_leave_all", {"process": self.process})
        except exceptions.ListenerError as exc:
            logger.warning("presence of process %s not cleared on stop: %s", self.process, exc)
        self._db.close()

    async def _run(self) -> None:
        beat = conf.presence_heartbeat()
        failures = 0
        while True:
            try:
                await self._beat()
                # Until the next beat, write what changed within a window of the first change.
                deadline = self.loop.time() + beat
                while (left := deadline - self.loop.time()) > 0:
                    try:
                        await asyncio.wait_for(self._dirty.wait(), left)
                    except TimeoutError:
                        break
                    await asyncio.sleep(self._window)
                    self._dirty.clear()
                    await self._sync()
                failures = 0
            except exceptions.ListenerError as exc:
                failures += 1
                delay = random.uniform(0, min(beat, 0.1 * 2**failures))
                logger.warning(
                    "presence of process %s not written (%s); retrying in %.2fs", self.process, exc, delay
                )
                await asyncio.sleep(delay)

    async def _beat(self) -> None:
        rows = await self._db.fetch("presence_beat", {"process": self.process})
        if rows and rows[0][0] and self._written:
            # Another process took us for dead (a stall longer than the timeout) and removed
            # our rows: write them all again.
            logger.warning("presence of process %s was reaped while alive; rejoining", self.process)
            self._written.clear()
        await self._sync()
        reaped = await self._db.fetch("presence_reap", {"timeout": conf.presence_timeout()})
        if reaped:
            logger.info("presence: removed %d rows of dead server processes", len(reaped))

    async def _sync(self) -> None:
        # Changes made while this write is in flight belong to the next one, in their order.
        changed, self._changed = self._changed, {}
        wanted = set(self._counts)
        order = {key: n for n, key in enumerate(changed)}

        def by_occurrence(keys: set[Key]) -> list[Key]:
            # Keys written again after a reap have no recent change: they go first, sorted.
            return sorted(keys, key=lambda key: (order.get(key, -1), key))

        gone = by_occurrence(self._written - wanted)
        new = by_occurrence(wanted - self._written)
        if gone or new:
            try:
                await self._db.fetch(
                    "presence_write",
                    {
                        "process": self.process,
                        "leave_topics": [t for t, _ in gone],
                        "leave_users": [u for _, u in gone],
                        "join_topics": [t for t, _ in new],
                        "join_users": [u for _, u in new],
                        "join_payloads": [self._payloads[key] for key in new],
                    },
                )
            except exceptions.ListenerError:
                self._changed = {**changed, **self._changed}  # retried by the next beat
                raise
            self._written.difference_update(gone)
            self._written.update(new)
        for key in [*gone, *changed]:
            if key not in self._counts:
                self._payloads.pop(key, None)  # also a tab opened and closed within the window


_tracker: Tracker | None = None


def tracker() -> Tracker:
    """This process's tracker, on the running loop (tests run one loop per test)."""
    global _tracker
    if (
        _tracker is None
        or _tracker.loop is not asyncio.get_running_loop()
        or _tracker.state is TrackerState.STOPPED
    ):
        _tracker = Tracker()
    return _tracker


def start() -> None:
    """Beat and reap from a server process's start, before its first presence socket: rows that
    a killed predecessor left are removed even if nobody opens a socket here (cheap when running)."""
    if conf.presence():
        tracker()


def opened(socket: Any) -> None:
    """A socket was accepted: count its user online on its topic if its class declares presence."""
    declared: Presence | None = getattr(socket, "presence", None)
    user = socket.scope.get("user")
    if declared is None or user is None or not user.is_authenticated or not conf.presence():
        return
    tracker().open(socket, socket.topic, str(user.pk), declared.payload(socket.topic, user))


def closed(socket: Any) -> None:
    """The socket ended, however it ended; safe to call more than once."""
    if _tracker is not None and _tracker.loop is asyncio.get_running_loop():
        _tracker.close(socket)


async def stop() -> None:
    global _tracker
    if _tracker is not None and _tracker.state is TrackerState.RUNNING:
        if _tracker.loop is asyncio.get_running_loop():
            await _tracker.stop()
        _tracker = None

"""This process's Channels groups and channel owners, shared by every layer instance.

Channels builds one layer per ``CHANNEL_LAYERS`` alias and code may build more (scripts,
tests), but one listener per process reads the log for all of them: if memberships lived on
the instance that recorded them, the listener could feed only one. So they live here, per
namespace (the layer's ``prefix``, as channels_redis keys its Redis data): a ``group_add`` on
any layer of a namespace and a ``group_send`` on any other reach the same members.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import json
import logging
import math
import os
import secrets
import time
import typing
import weakref
from typing import Any

from listener.layer import codec
from listener.log import events

logger = logging.getLogger(__name__)

# channels_redis's default prefix; this namespace's groups are the log's topics as they are,
# so user code's group_send("room_5") reaches the real-time sockets of room_5.
DEFAULT_PREFIX = "asgi"
# The topic of a flush; "!" is not allowed in a group name, so no group can collide with it.
FLUSH_TOPIC = "realtime.layer!flush"
# This process, as its flushes name it: its listener skips its own (done at call time).
PROCESS = "%s-%d" % (secrets.token_hex(6), os.getpid())


class DirectMember(typing.Protocol):
    """A group member that takes events by direct call instead of through a queue: a real-time socket."""

    def deliver(self, event: events.LogEvent) -> None: ...

    def abort(self, reason: str) -> None:
        """Close with a resumable code: an event could not be delivered."""


class Owner(typing.Protocol):
    """The layer instance that made a process channel: it buffers that channel's messages."""

    def put_local(self, channel: str, message: dict[str, Any], expires: float) -> bool:
        """Buffer ``message`` for ``channel`` until ``expires`` (time.time()); False when full."""

    async def receive(self, channel: str) -> dict[str, Any]: ...

    def clear_local(self) -> None:
        """Drop every buffered message (a flush)."""


class Namespace:
    """Groups, real-time sockets and channel owners of one layer prefix, in this process."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        # group -> member channel -> when the membership ends (time.monotonic(); inf: never).
        self.groups: dict[str, dict[str, float]] = {}
        # channel -> its groups: finding them by scanning every group made a deploy's closes O(n²).
        self.memberships: dict[str, set[str]] = {}
        self.direct: dict[str, DirectMember] = {}
        # "<prefix>_" -> real-time sockets taking that family's events until they join theirs.
        self.awaiting: dict[str, dict[str, None]] = {}
        # `<prefix><process>` heads (before "!") -> the layer that made them. Weak: a layer
        # nobody holds any more has no receiver left for its channels.
        self.owners: weakref.WeakValueDictionary[str, Owner] = weakref.WeakValueDictionary()
        # How long a message from another process waits in a buffer: the latest layer's expiry.
        self.expiry: float = 60
        # (group, queue) pairs whose listener_groupmember row stands for this process's plain
        # members of the group under that queue (listener.layer.queued).
        self.registered: set[tuple[str, str]] = set()

    def key(self, name: str) -> str:
        """``name`` as the log and the tables know it: prefixed, except in the default namespace."""
        return name if self.prefix == DEFAULT_PREFIX else "%s:%s" % (self.prefix, name)

    def owner(self, channel: str) -> Owner | None:
        head, bang, _ = channel.partition("!")
        return self.owners.get(head) if bang else None

    def join(self, group: str, channel: str, ttl: float = math.inf) -> None:
        self.groups.setdefault(group, {})[channel] = time.monotonic() + ttl
        self.memberships.setdefault(channel, set()).add(group)

    def discard(self, group: str, channel: str) -> None:
        members = self.groups.get(group)
        if members is not None:
            members.pop(channel, None)
            if not members:
                del self.groups[group]
        joined = self.memberships.get(channel)
        if joined is not None:
            joined.discard(group)
            if not joined:
                del self.memberships[channel]

    def await_family(self, channel: str, prefix: str | None) -> None:
        """Give real-time socket ``channel`` every event on a ``<prefix>_...`` group (None: stop):
        it learns which is its own only after its snapshot, and drops the others' then."""
        for family, channels in list(self.awaiting.items()):
            channels.pop(channel, None)
            if not channels:
                del self.awaiting[family]
        if prefix is not None:
            self.awaiting.setdefault(prefix + "_", {})[channel] = None

    def deliver_awaiting(self, event: events.LogEvent) -> None:
        """An event's topics are looked at once per family, not once per waiting socket: a
        reconnect storm keeps thousands waiting while a busy room's events go by."""
        for family, channels in list(self.awaiting.items()):
            if any(topic.startswith(family) for topic in event.topics):
                for channel in list(channels):
                    self._hand(channel, self.direct[channel], event)

    def detach(self, channel: str) -> DirectMember | None:
        if self.awaiting:
            self.await_family(channel, None)
        member = self.direct.pop(channel, None)
        for group in list(self.memberships.get(channel, ())):
            self.discard(group, channel)
        return member

    def fan_out(self, group: str, message: dict[str, Any], ttl: float) -> tuple[int, int]:
        """Buffer ``message`` for this process's plain members of ``group`` now: (full, members)."""
        members = self.groups.get(group)
        if not members:
            return 0, 0
        text = codec.encode(message)
        expires = time.time() + ttl
        full = total = 0
        for channel in self.plain(group, members):
            total += 1
            owner = self.owner(channel)
            # A decoded copy per member: one consumer's changes must not show in another's.
            if owner is not None and not owner.put_local(channel, codec.decode(text), expires):
                full += 1
        return full, total

    def deliver(self, group: str, event: events.LogEvent, ttl: float) -> None:
        """Hand one logged event to this process's members of ``group``.

        Real-time sockets take every event. Plain members take a trigger's events here, but not
        a group_send's: those reach them through a channel queue in order with the sender's
        sends (their own process's at call time, others' through ``listener.layer.queued``).
        """
        members = self.groups.get(group)
        if not members:
            return
        for channel, member in [(c, self.direct[c]) for c in members if c in self.direct]:
            self._hand(channel, member, event)
        if event.group_send:
            return
        plain = self.plain(group, members)
        if not plain:
            return
        text = event.payload_json
        try:
            codec.decode(text)
        except json.JSONDecodeError:
            logger.error("event %d of group %s is not JSON; not delivered to its channels", event.id, group)
            return
        full = 0
        expires = time.time() + ttl
        for channel in plain:
            owner = self.owner(channel)
            copy = {"type": event.type, **codec.decode(text)}
            if owner is not None and not owner.put_local(channel, copy, expires):
                full += 1
        if full:
            logger.info("%d of %d channels over capacity in group %s", full, len(plain), group)

    @staticmethod
    def _hand(channel: str, member: DirectMember, event: events.LogEvent) -> None:
        try:
            member.deliver(event)
        except Exception:
            # One broken consumer must not stop the others, nor its page go on with a gap:
            # it is closed and resumes from its cursor.
            logger.exception("delivering event %d to %s failed", event.id, channel)
            member.abort("event %d could not be delivered" % event.id)

    def plain(self, group: str, members: dict[str, float]) -> list[str]:
        """The queue-fed members of ``group``, without those whose membership expired."""
        now = time.monotonic()
        found = []
        for channel, until in list(members.items()):
            if channel in self.direct:
                continue
            if until <= now or (self.owner(channel) is None and "!" in channel):
                logger.info("membership of %s in group %s ended", channel, group)
                self.discard(group, channel)
                continue
            found.append(channel)
        return found

    def flush(self) -> None:
        """Forget plain memberships and buffered messages; real-time sockets keep their groups
        (their consumers own them, and a flush is for tests and development)."""
        for group, members in list(self.groups.items()):
            for channel in [c for c in members if c not in self.direct]:
                self.discard(group, channel)
        # The flush's TRUNCATE took their rows.
        self.registered.clear()
        for owner in list(self.owners.values()):
            owner.clear_local()


_namespaces: dict[str, Namespace] = {}


def namespace(prefix: str) -> Namespace:
    found = _namespaces.get(prefix)
    if found is None:
        found = _namespaces[prefix] = Namespace(prefix)
    return found


def find(key: str) -> tuple[Namespace | None, str]:
    """The namespace and group of a topic or group as the log and tables know it."""
    prefix, colon, group = key.partition(":")
    if not colon:
        prefix, group = DEFAULT_PREFIX, key
    return _namespaces.get(prefix), group


def namespaces() -> list[Namespace]:
    return list(_namespaces.values())


def heads() -> list[str]:
    """Every ``<prefix><process>`` head of channels made by a layer of this process."""
    return sorted({head for found in _namespaces.values() for head in found.owners.keys()})


def flush() -> None:
    """Every namespace's flush: a layer flush empties the tables of every namespace too."""
    for found in _namespaces.values():
        found.flush()


class _Turn:
    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


_turns: dict[tuple[asyncio.AbstractEventLoop, str], _Turn] = {}


@contextlib.asynccontextmanager
async def turn(channel: str) -> collections.abc.AsyncIterator[None]:
    """Receivers of one named channel on this loop, served first come, first served (as the
    peers do); without it, whichever claims first after a wake-up would win."""
    slot = (asyncio.get_running_loop(), channel)
    entry = _turns.get(slot)
    if entry is None:
        entry = _turns[slot] = _Turn()
    entry.users += 1
    try:
        async with entry.lock:
            yield
    finally:
        entry.users -= 1
        if not entry.users:
            del _turns[slot]


def route(event: events.LogEvent) -> None:
    """Hand an event to the groups named by its topics, in every namespace of this process."""
    for topic in event.topics:
        if topic == FLUSH_TOPIC:
            # Another process flushed (this one did its own at call time).
            if event.kwargs.get("process") != PROCESS:
                flush()
            continue
        found, group = find(topic)
        if found is not None:
            found.deliver(group, event, found.expiry)
    for found in _namespaces.values():
        if found.awaiting:
            found.deliver_awaiting(event)


def forget() -> None:
    """Drop every group and real-time socket of every namespace (tests start from nothing).
    Layers keep their namespace objects and channels."""
    for found in _namespaces.values():
        found.groups.clear()
        found.memberships.clear()
        found.direct.clear()
        found.awaiting.clear()
        found.registered.clear()

"""A Channels layer with Postgres as the bus between processes and direct fan-out within one.

Channels' vocabulary stays (a topic is a group; consumers join and leave), but delivery to the
sockets of this process is a direct call with one pre-serialized frame per event: no per-member
queue, copy or serialization on the hot path. ``group_send`` from any process appends one row
to the event log, so it reaches every process, durably and with cursors, like a trigger's
event; each process's listener hands it to its own real-time sockets.

``send``/``receive`` cross processes through a message table (``listener.inbox``): a named
channel is a queue whose every message goes to exactly one receiver, a process's own channels
(``specific.<process>!<id>``) are read by that process. Plain members (consumers that
``receive``) of another process get a ``group_send`` through that same table, one message per
process, so it keeps its place among the sender's ``send``s (``listener.layer.queued``).
A shell or ``runworker`` process starts what it needs (the listener, the inbox's LISTEN
connection) on first use.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import secrets
import time
import typing
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer, get_channel_layer
from django.core.exceptions import ImproperlyConfigured

from listener import exceptions, gcstats
from listener.layer import codec, database, inbox, named, process, queued, registry

logger = logging.getLogger(__name__)

OPTIONS = ("expiry", "capacity", "channel_capacity", "group_expiry", "prefix")
_PREFIX = re.compile(r"^[a-zA-Z0-9_.-]{1,50}$")

DirectMember = registry.DirectMember


def default() -> PostgresChannelLayer:
    """The layer of ``CHANNEL_LAYERS['default']``, which real-time sockets need to be this one."""
    found = get_channel_layer()
    if not isinstance(found, PostgresChannelLayer):
        raise exceptions.ListenerError(
            "CHANNEL_LAYERS['default'] must be listener.layer.PostgresChannelLayer"
        )
    return found


class PostgresChannelLayer(BaseChannelLayer):
    """In-process groups fed by the listener; channels and groups across processes via Postgres."""

    extensions: typing.ClassVar[list[str]] = ["groups", "flush"]

    def __init__(
        self,
        expiry: int = 60,
        capacity: int = 100,
        channel_capacity: dict[str, int] | None = None,
        group_expiry: float = 86400,
        prefix: str = registry.DEFAULT_PREFIX,
        **unknown: Any,
    ) -> None:
        if unknown:
            # channels_redis's `hosts`, `symmetric_encryption_keys`...: silently ignoring them
            # would hide that this layer does not do what the settings ask.
            raise ImproperlyConfigured(
                "PostgresChannelLayer has no option %s; it takes %s (it talks to the Django "
                "database: no hosts, no encryption)" % (", ".join(sorted(unknown)), ", ".join(OPTIONS))
            )
        if not isinstance(prefix, str) or not _PREFIX.match(prefix):
            raise ImproperlyConfigured(
                "PostgresChannelLayer prefix %r must be 1-50 ASCII letters, digits, '-', '_' or '.'"
                % (prefix,)
            )
        super().__init__(expiry=expiry, capacity=capacity)
        # Glob patterns, compiled once (the base class keeps them as given).
        self._capacities = [
            (re.compile(fnmatch.translate(pattern)), value)
            for pattern, value in (channel_capacity or {}).items()
        ]
        self.group_expiry = group_expiry
        self.prefix = prefix
        self._ns = registry.namespace(prefix)
        self._ns.expiry = expiry
        self._process = "%s-%d" % (secrets.token_hex(6), os.getpid())
        self._heads: set[str] = set()
        self._db = database.LayerConnection()
        self._inbox = inbox.Inbox(self._heads, self.get_capacity, self._db)

    # Channels API -------------------------------------------------------------------------

    async def new_channel(self, prefix: str = "specific.") -> str:
        return self.channel_name(prefix)

    def channel_name(self, prefix: str = "specific.") -> str:
        """A new channel name of this process (synchronous, for consumers that attach directly)."""
        head = prefix + self._process
        if head not in self._heads:
            self._heads.add(head)
            self._ns.owners[head] = self
        return "%s!%s" % (head, secrets.token_hex(8))

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Queue ``message`` on ``channel`` in whichever process reads it; `ChannelFull` at capacity."""
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        text = codec.encode(message)
        owner = self._ns.owner(channel)
        if owner is not None:
            # A copy, as a receiver in another process would get, and the same check of types.
            if not owner.put_local(channel, codec.decode(text), time.time() + self.expiry):
                raise ChannelFull(channel)
            return
        rows = await self._db.fetch(
            "channel_send",
            {
                "channel": self._key(channel),
                "queue": self._queue_of(channel),
                "message": text,
                "ttl": float(self.expiry),
                "capacity": self.get_capacity(channel),
            },
        )
        if not rows[0][0]:
            raise ChannelFull(channel)

    async def receive(self, channel: str) -> dict[str, Any]:
        """The next message of ``channel``, waiting for one; named channels hand each out once."""
        self.require_valid_channel_name(channel)
        if "!" in channel:
            owner = self._ns.owner(channel)
            if owner is None:
                # Its messages go to the process that made it: waiting here would never end.
                raise AssertionError(
                    "channel %s was not made by this process (new_channel); only its maker receives from it"
                    % channel
                )
            if owner is not self:
                return await owner.receive(channel)
            self._inbox.ensure_started()
            buffer = self._inbox.buffer(channel)
            was_full = len(buffer.items) >= self.get_capacity(channel)
            message = await buffer.get()
            if was_full:
                # Messages the inbox left in Postgres while this buffer was full can come now.
                await self._db.fetch("channel_wake", {"queue": self._queue_of(channel)})
            return message
        return await named.receive(self._db, self._inbox, self._key(channel), self.expiry)

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        if self._here(channel):
            self._ns.join(group, channel, self.group_expiry)
            if channel not in self._ns.direct:
                await queued.register(self._db, self._ns, group, channel)
            # The listener must follow the log before this returns, or a trigger's event
            # committed right after it could pass this member by.
            await process.ready()
            return
        await self._db.fetch(
            "group_member_add",
            {
                "group": self._key(group),
                "channel": self._key(channel),
                "queue": self._queue_of(channel),
                "ttl": float(self.group_expiry),
            },
        )

    async def group_discard(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        if self._here(channel):
            self._ns.discard(group, channel)
            if channel not in self._ns.direct:
                await queued.unregister(self._db, self._ns, group, channel)
        else:
            await self._db.fetch(
                "group_member_discard", {"group": self._key(group), "channel": self._key(channel)}
            )

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Send to ``group`` in every process: one event-log row, whatever the member count.

        This process's plain members get it now, before this returns: in order with the
        caller's other sends, and only those that are members now (the listener skips them
        when it reads the row). Real-time sockets get it from the log; plain members in other
        processes through their process's queue, one row per process, behind this caller's
        earlier sends to them (``listener.layer.queued``).
        """
        assert isinstance(message, dict), "message is not a dict"
        assert "type" in message, "message has no type"
        self.require_valid_group_name(group)
        full, members = await self._append(self._key(group), message)
        local_full, local_members = self._ns.fan_out(group, message, self.expiry)
        full, members = full + local_full, members + local_members
        if full:
            logger.info("%d of %d channels over capacity in group %s", full, members, group)

    async def _append(self, topic: str, message: dict[str, Any]) -> tuple[int, int]:
        body = {k: v for k, v in message.items() if k != "type"}
        rows = await self._db.fetch(
            "group_send",
            {
                "group": topic,
                "type": message["type"],
                "payload": codec.encode(body),
                "message": codec.encode(message),
                "ttl": float(self.expiry),
                "capacity": self.capacity,
                # This process's plain members took it at call time (fan_out).
                "own_queues": registry.heads(),
            },
        )
        return int(rows[0][0]), int(rows[0][1])

    async def flush(self) -> None:
        """Forget every queued message and plain membership: in Postgres, in every layer of this
        process now, and in other processes when their listeners read the flush from the log."""
        await self._db.fetch("layer_flush")
        await self._append(registry.FLUSH_TOPIC, {"type": "layer.flush", "process": registry.PROCESS})
        registry.flush()

    async def close(self) -> None:
        """Close this layer's connections. What it holds stays (buffered messages, memberships):
        code may close between ``async_to_sync`` calls and use the layer again."""
        await self._inbox.stop()
        self._db.close()

    def get_capacity(self, channel: str) -> int:
        for pattern, value in self._capacities:
            if pattern.match(channel):
                return value
        return self.capacity

    # This process's channels ----------------------------------------------------------------

    def put_local(self, channel: str, message: dict[str, Any], expires: float) -> bool:
        """Buffer ``message`` for one of this layer's channels; False when it is full."""
        buffer = self._inbox.buffer(channel)
        if len(buffer.items) >= self.get_capacity(channel):
            return False
        buffer.put(expires, message)
        return True

    def clear_local(self) -> None:
        self._inbox.buffers.clear()

    # Direct delivery ----------------------------------------------------------------------

    def attach(self, channel: str, member: registry.DirectMember) -> None:
        """Deliver this channel's group events by calling ``member.deliver``."""
        self._ns.direct[channel] = member
        gcstats.socket_opened()

    def detach(self, channel: str) -> None:
        if self._ns.detach(channel) is not None:
            gcstats.socket_closed()
        self._inbox.buffers.pop(channel, None)

    def join(self, group: str, channel: str) -> None:
        self._ns.join(group, channel)

    def await_family(self, channel: str, prefix: str | None) -> None:
        self._ns.await_family(channel, prefix)

    def discard(self, group: str, channel: str) -> None:
        self._ns.discard(group, channel)

    def members(self, group: str) -> int:
        return len(self._ns.groups.get(group, ()))

    def sockets_by_topic_kind(self) -> dict[str, int]:
        """Open real-time sockets of this process, by topic kind (``room``, ``user``)."""
        counts: dict[str, int] = {}
        for member in self._ns.direct.values():
            kind = getattr(member, "topic_kind", "other")
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    def _here(self, channel: str) -> bool:
        """Whether ``channel`` is read in this process (made by a layer here, or a real-time socket)."""
        return channel in self._ns.direct or self._ns.owner(channel) is not None

    def _key(self, name: str) -> str:
        """A group or named channel as the log and tables know it; process channels are unique."""
        return name if "!" in name else self._ns.key(name)

    def _queue_of(self, channel: str) -> str:
        """Where ``channel``'s messages wait: a process's channels share one queue, its head."""
        return channel.partition("!")[0] if "!" in channel else self._key(channel)

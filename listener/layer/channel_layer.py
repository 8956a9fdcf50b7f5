"""A Channels layer with Postgres as the bus between processes and direct fan-out within one.

Channels' vocabulary stays (a topic is a group; consumers join and leave), but delivery to the
sockets of this process is a direct call with one pre-serialized frame per event: no per-member
queue, copy or serialization on the hot path. ``group_send`` from any process appends one row
to the event log, so it reaches every process, durably and with cursors, like a trigger's
event; each process's listener hands it to its own members.

``send``/``receive`` cross processes through a message table (``listener.inbox``): a named
channel is a queue whose every message goes to exactly one receiver, a process's own channels
(``specific.<process>!<id>``) are read by that process. A shell or ``runworker`` process starts
what it needs (the listener, the inbox's LISTEN connection) on first use.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import os
import re
import secrets
import time
import typing
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer, get_channel_layer

from listener import exceptions, gcstats
from listener.layer import codec, database, inbox, process
from listener.log import events

logger = logging.getLogger(__name__)

# A message taken back by a cancelled receiver returns whatever the channel holds meanwhile.
BIG_CAPACITY = 2**31 - 1


class DirectMember(typing.Protocol):
    """A group member that takes events by direct call instead of through a queue: a real-time socket."""

    def deliver(self, event: events.LogEvent) -> None: ...

    def abort(self, reason: str) -> None:
        """Close with a resumable code: an event could not be delivered."""


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
        group_expiry: int = 86400,
        **kwargs: Any,
    ) -> None:
        super().__init__(expiry=expiry, capacity=capacity)
        # Glob patterns, compiled once (the base class keeps them as given).
        self._capacities = [
            (re.compile(fnmatch.translate(pattern)), value)
            for pattern, value in (channel_capacity or {}).items()
        ]
        self.group_expiry = group_expiry
        # group -> this process's member channels -> when they joined (time.monotonic()).
        self._groups: dict[str, dict[str, float]] = {}
        self._direct: dict[str, DirectMember] = {}
        self._process = "%s-%d" % (secrets.token_hex(6), os.getpid())
        self._heads: set[str] = set()
        self._db = database.LayerConnection()
        self._inbox = inbox.Inbox(self._heads, self.get_capacity)

    # Channels API -------------------------------------------------------------------------

    async def new_channel(self, prefix: str = "specific.") -> str:
        return self.channel_name(prefix)

    def channel_name(self, prefix: str = "specific.") -> str:
        """A new channel name of this process (synchronous, for consumers that attach directly)."""
        head = prefix + self._process
        self._heads.add(head)
        return "%s!%s" % (head, secrets.token_hex(8))

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Queue ``message`` on ``channel`` in whichever process reads it; `ChannelFull` at capacity."""
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        if self._is_local(channel):
            # A copy, as a receiver in another process would get, and the same check of types.
            self._put(channel, codec.decode(codec.encode(message)))
            return
        rows = await self._db.fetch(
            "channel_send",
            {
                "channel": channel,
                "queue": self._queue_of(channel),
                "message": codec.encode(message),
                "ttl": float(self.expiry),
                "capacity": self.get_capacity(channel),
            },
        )
        if not rows[0][0]:
            raise ChannelFull(channel)

    async def receive(self, channel: str) -> dict[str, Any]:
        """The next message of ``channel``, waiting for one; named channels hand each out once."""
        self.require_valid_channel_name(channel)
        if self._is_local(channel):
            self._inbox.ensure_started()
            buffer = self._inbox.buffer(channel)
            was_full = len(buffer.items) >= self.get_capacity(channel)
            message = await buffer.get()
            if was_full:
                # Messages the inbox left in Postgres while this buffer was full can come now.
                await self._db.fetch("channel_wake", {"queue": self._queue_of(channel)})
            return message
        await self._inbox.started()
        while True:
            seen = self._inbox.generation(channel)
            rows = await self._claim(channel)
            if rows:
                return codec.decode(rows[0][0])
            await self._inbox.wait(channel, seen)

    async def _claim(self, channel: str) -> list[tuple[Any, ...]]:
        """Take one message of a named channel; a receiver cancelled meanwhile puts it back.

        Channels cancels a consumer's pending ``receive`` when it stops (a worker shutting down):
        a message deleted by then would be lost, so it goes back to the channel's queue.
        """
        claim = asyncio.ensure_future(self._db.fetch("channel_claim_one", {"channel": channel}))
        try:
            return await asyncio.shield(claim)
        except asyncio.CancelledError:
            rows = await claim
            if rows:
                await self._db.fetch(
                    "channel_send",
                    {
                        "channel": channel,
                        "queue": channel,
                        "message": rows[0][0],
                        "ttl": float(self.expiry),
                        "capacity": BIG_CAPACITY,
                    },
                )
            raise

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        if self._is_local(channel):
            self.join(group, channel)
            # The listener must follow the log before this returns, or a group_send made
            # right after it could pass this process by.
            await process.ready()
            return
        await self._db.fetch(
            "group_member_add",
            {
                "group": group,
                "channel": channel,
                "queue": self._queue_of(channel),
                "ttl": float(self.group_expiry),
            },
        )

    async def group_discard(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        if self._is_local(channel):
            self.discard(group, channel)
        else:
            await self._db.fetch("group_member_discard", {"group": group, "channel": channel})

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Send to ``group`` in every process: one event-log row, whatever the member count."""
        assert isinstance(message, dict), "message is not a dict"
        assert "type" in message, "message has no type"
        self.require_valid_group_name(group)
        body = {k: v for k, v in message.items() if k != "type"}
        rows = await self._db.fetch(
            "group_send",
            {
                "group": group,
                "type": message["type"],
                "payload": codec.encode(body),
                "message": codec.encode(message),
                "ttl": float(self.expiry),
                "capacity": self.capacity,
            },
        )
        if rows and rows[0][0]:
            logger.warning("group %s: %d member channels were full and missed a message", group, rows[0][0])

    async def flush(self) -> None:
        """Forget every queued message and group membership, in Postgres and in this process."""
        await self._db.fetch("layer_flush")
        await self.close()

    async def close(self) -> None:
        """Drop this process's state and connections (not what is queued in Postgres)."""
        await self._inbox.stop()
        self._db.close()
        self._groups.clear()
        self._direct.clear()
        self._inbox.buffers.clear()

    def get_capacity(self, channel: str) -> int:
        for pattern, value in self._capacities:
            if pattern.match(channel):
                return value
        return self.capacity

    # Direct delivery ----------------------------------------------------------------------

    def attach(self, channel: str, member: DirectMember) -> None:
        """Deliver this channel's group events by calling ``member.deliver``."""
        self._direct[channel] = member
        gcstats.socket_opened()

    def detach(self, channel: str) -> None:
        if self._direct.pop(channel, None) is not None:
            gcstats.socket_closed()
        self._inbox.buffers.pop(channel, None)
        for group in [g for g, members in self._groups.items() if channel in members]:
            self.discard(group, channel)

    def join(self, group: str, channel: str) -> None:
        self._groups.setdefault(group, {})[channel] = time.monotonic()

    def discard(self, group: str, channel: str) -> None:
        members = self._groups.get(group)
        if members is not None:
            members.pop(channel, None)
            if not members:
                del self._groups[group]

    def members(self, group: str) -> int:
        return len(self._groups.get(group, ()))

    def sockets_by_topic_kind(self) -> dict[str, int]:
        """Open real-time sockets of this process, by topic kind (``room``, ``user``)."""
        counts: dict[str, int] = {}
        for member in self._direct.values():
            kind = getattr(member, "topic_kind", "other")
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    def deliver(self, group: str, event: events.LogEvent) -> None:
        """Hand one logged event to every member of ``group`` in this process."""
        members = self._groups.get(group)
        if not members:
            return
        for channel in list(members):
            member = self._direct.get(channel)
            try:
                if member is not None:
                    member.deliver(event)
                else:
                    self._deliver_to_queue(group, channel, event)
            except ChannelFull:
                logger.error("channel %s is full; event %d not delivered to it", channel, event.id)
            except Exception:
                # One broken consumer must not stop the others from getting the event, and
                # its page must not go on with a gap: it is closed and resumes from its cursor.
                logger.exception("delivering event %d to %s failed", event.id, channel)
                if member is not None:
                    member.abort("event %d could not be delivered" % event.id)

    def _deliver_to_queue(self, group: str, channel: str, event: events.LogEvent) -> None:
        """A plain Channels consumer's membership expires; its message goes to its queue."""
        if time.monotonic() - self._groups[group][channel] >= self.group_expiry:
            logger.info("membership of %s in group %s expired", channel, group)
            self.discard(group, channel)
            return
        try:
            body = codec.decode(event.payload_json)
        except json.JSONDecodeError:
            logger.error("event %d of group %s is not JSON; not delivered to %s", event.id, group, channel)
            return
        self._put(channel, {"type": event.type, **body})

    def _is_local(self, channel: str) -> bool:
        head, bang, _ = channel.partition("!")
        return bool(bang) and head in self._heads

    def _queue_of(self, channel: str) -> str:
        """Where ``channel``'s messages wait: a process's channels share one queue, its head."""
        return channel.partition("!")[0]

    def _put(self, channel: str, message: dict[str, Any]) -> None:
        buffer = self._inbox.buffer(channel)
        if len(buffer.items) >= self.get_capacity(channel):
            raise ChannelFull(channel)
        buffer.put(time.time() + self.expiry, message)

"""A channel layer with Postgres as the bus between processes and direct fan-out within one.

Channels' vocabulary stays (a topic is a group; consumers join and leave), but delivery to the
sockets of this process is a direct call with one pre-serialized frame per event: no per-member
queue, copy or serialization on the hot path. ``group_send`` from any process appends to the
event log, so it reaches every process, durably and with cursors, like a trigger's event.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import typing
from typing import Any

from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer
from django.db import connection

from listener import events, queries

logger = logging.getLogger(__name__)


class Receiver(typing.Protocol):
    """A consumer that takes events directly from the layer instead of through a queue."""

    def deliver(self, event: events.LogEvent) -> None: ...

    def abort(self, reason: str) -> None:
        """Close with a resumable code: an event could not be delivered."""


class PostgresChannelLayer(BaseChannelLayer):
    """In-process groups fed by the listener; cross-process sends go through the event log."""

    extensions: typing.ClassVar[list[str]] = ["groups", "flush"]

    def __init__(
        self,
        expiry: int = 60,
        capacity: int = 100,
        channel_capacity: dict[str, int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(expiry=expiry, capacity=capacity, channel_capacity=channel_capacity)
        self._groups: dict[str, dict[str, None]] = {}
        self._receivers: dict[str, Receiver] = {}
        self._queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._prefix = "%d.%s" % (os.getpid(), secrets.token_hex(4))

    # Channels API -------------------------------------------------------------------------

    async def new_channel(self, prefix: str = "specific.") -> str:
        return self.channel_name(prefix)

    def channel_name(self, prefix: str = "specific.") -> str:
        """A new channel name of this process (synchronous, for consumers that attach directly)."""
        return "%s%s!%s" % (prefix, self._prefix, secrets.token_hex(8))

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        self._put(channel, message)

    async def receive(self, channel: str) -> dict[str, Any]:
        self.require_valid_channel_name(channel)
        return await self._queue(channel).get()

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        self.join(group, channel)

    async def group_discard(self, group: str, channel: str) -> None:
        self.discard(group, channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Publish to ``group`` in every process, through the event log."""
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        body = {k: v for k, v in message.items() if k != "type"}
        await database_sync_to_async(_publish)([group], message["type"], json.dumps(body))

    async def flush(self) -> None:
        self._groups.clear()
        self._queues.clear()
        self._receivers.clear()

    # Direct delivery ----------------------------------------------------------------------

    def attach(self, channel: str, receiver: Receiver) -> None:
        """Deliver this channel's group events by calling ``receiver.deliver``."""
        self._receivers[channel] = receiver

    def detach(self, channel: str) -> None:
        self._receivers.pop(channel, None)
        self._queues.pop(channel, None)
        for group in [g for g, members in self._groups.items() if channel in members]:
            self.discard(group, channel)

    def join(self, group: str, channel: str) -> None:
        self._groups.setdefault(group, {})[channel] = None

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
        for receiver in self._receivers.values():
            kind = getattr(receiver, "topic_kind", "other")
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    def deliver(self, group: str, event: events.LogEvent) -> None:
        """Hand one logged event to every member of ``group`` in this process."""
        members = self._groups.get(group)
        if not members:
            return
        for channel in list(members):
            receiver = self._receivers.get(channel)
            try:
                if receiver is not None:
                    receiver.deliver(event)
                else:
                    self._put(channel, {"type": event.type, **event.kwargs})
            except ChannelFull:
                logger.error("channel %s is full; event %d not delivered to it", channel, event.id)
            except Exception:
                # One broken consumer must not stop the others from getting the event, and
                # its page must not go on with a gap: it is closed and resumes from its cursor.
                logger.exception("delivering event %d to %s failed", event.id, channel)
                if receiver is not None:
                    receiver.abort("event %d could not be delivered" % event.id)

    def _queue(self, channel: str) -> asyncio.Queue[dict[str, Any]]:
        queue = self._queues.get(channel)
        if queue is None:
            queue = self._queues[channel] = asyncio.Queue(self.get_capacity(channel))
        return queue

    def _put(self, channel: str, message: dict[str, Any]) -> None:
        try:
            self._queue(channel).put_nowait(message)
        except asyncio.QueueFull as exc:
            raise ChannelFull(channel) from exc


def _publish(topics: list[str], event_type: str, payload_json: str) -> None:
    with connection.cursor() as cur:
        cur.execute(queries.get("publish"), {"topics": topics, "type": event_type, "payload": payload_json})

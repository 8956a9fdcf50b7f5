"""Events as they travel from the log to the sockets."""

from __future__ import annotations

import functools
import json
from typing import Any

from listener.log import cursors

# An event id beyond any: `Cursor.seen(xid, _EVERY_EVENT)` asks whether all of ``xid`` was seen.
_EVERY_EVENT = 2**63 - 1


class Frame(str):
    """An event's JSON frame that still knows its event, for sockets that send something else
    (a live region's HTML) in its place; it holds no reference back to the event."""

    def __new__(cls, text: str, event_id: int, type: str, cursor: str) -> Frame:
        made = super().__new__(cls, text)
        made.event_id = event_id
        made.type = type
        made.cursor = cursor
        return made

    event_id: int
    type: str
    cursor: str

    @property
    def kwargs(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self)["kwargs"]
        return parsed


class LogEvent:
    """One row of the event log, with the cursor of the frame that carries it.

    The frame is serialized once per event and shared by every socket it reaches. Its cursor
    (a signed token) is made only when a socket takes the event: a process reads every event of
    the log, and most of them concern pages that other processes serve.
    """

    def __init__(
        self,
        id: int,
        xid: int,
        topics: list[str],
        type: str,
        payload_json: str,
        base: cursors.Cursor,
        now: cursors.Snapshot,
        created: float | None = None,
        group_send: bool = False,
    ) -> None:
        self.id = id
        self.xid = xid
        self.topics = topics
        self.type = type
        self.payload_json = payload_json
        # The step that read this event: from what its reader had seen (base) up to `now`.
        self._base = base
        self._now = now
        # When the writing transaction started (epoch seconds), where the reader asked for it.
        self.created = created
        # Written by the channel layer's group_send: its queue-fed members get it by queue.
        self.group_send = group_send

    @functools.cached_property
    def cursor(self) -> str:
        """Covers exactly this event and those before it in ``(xid, id)`` order."""
        return self._base.after(self._now, self.xid, self.id).encode()

    def preceded_by(self, xid: int) -> bool:
        """Whether transaction ``xid`` comes before this event in the log's order, or is its own:
        whether a grant that ``xid`` made covered whoever got this event when it happened."""
        return xid == self.xid or self._base.after(self._now, self.xid, self.id).seen(xid, _EVERY_EVENT)

    def on(self, topic: str) -> bool:
        """Whether the event was published on ``topic``.

        Asked by every socket the event reaches, and one event can be on a thousand topics (a
        room's rename is on each member's user topic): a set keeps the question O(1), where the
        list made one broadcast cost O(sockets x topics)."""
        return topic in self._topic_set

    @functools.cached_property
    def _topic_set(self) -> frozenset[str]:
        return frozenset(self.topics)

    @functools.cached_property
    def kwargs(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.payload_json)
        return loaded

    @functools.cached_property
    def frame(self) -> Frame:
        text = '{"type": %s, "kwargs": %s, "cursor": %s}' % (
            json.dumps(self.type),
            self.payload_json,
            json.dumps(self.cursor),
        )
        return Frame(text, self.id, self.type, self.cursor)

    def __repr__(self) -> str:
        return "<LogEvent %d xid=%d %s %s>" % (self.id, self.xid, self.type, self.topics)


def frame(type: str, kwargs: dict[str, Any], cursor: str = "") -> str:
    """A server-to-page frame that does not come from the log (e.g. ``resync_required``)."""
    return json.dumps({"type": type, "kwargs": kwargs, "cursor": cursor})


def from_row(row: tuple[Any, ...], base: cursors.Cursor, now: cursors.Snapshot) -> LogEvent:
    """A log row ``(id, xid, topics, type, payload[, created, group_send])`` read between
    ``base`` and ``now``.

    Rows come in ``(xid, id)`` order; the frame's cursor covers exactly this row and those before it.
    """
    event_id, xid_text, topics, event_type, payload = row[:5]
    created = float(row[5]) if len(row) > 5 else None
    group_send = bool(row[6]) if len(row) > 6 else False
    return LogEvent(event_id, int(xid_text), topics, event_type, payload, base, now, created, group_send)

"""The base of every real-time socket: authorize, resume from a cursor, then follow live events.

Connecting with a cursor: join the groups first, then read the resume point and the
subscriber's access in one REPEATABLE READ transaction, replay the log from the cursor up to
that point, then forward the live events that arrived meanwhile, dropping those the replay
already covered. Replayed and live events pass the same per-subscriber filter.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import enum
import logging
import urllib.parse
from typing import Any

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django import db
from django.conf import settings
from django.db import connection, transaction
from django.utils import http

from listener import asgi as listener_asgi
from listener import conf, cursors, events, exceptions, metrics, queries, retention, revocation, service
from listener import origin as socket_origin
from listener import topics as topic_names

logger = logging.getLogger(__name__)


class Code(enum.IntEnum):
    """WebSocket close codes a page can act on (README, "Close codes")."""

    BAD_CURSOR = 4400
    NOT_LOGGED_IN = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    # More open sockets than REALTIME_MAX_SOCKETS_PER_USER in this process: the newest is refused.
    TOO_MANY_SOCKETS = 4429
    # Resumable: reconnect with the cursor of the last frame handled.
    TOO_SLOW = 4008
    INTERNAL_ERROR = 1011
    UNAVAILABLE = 4503
    # Not resumable: the cursor is older than the log; reload the page's data.
    RESYNC_REQUIRED = 4410


class Verdict(enum.Enum):
    SEND = "send"
    SKIP = "skip"


@dataclasses.dataclass(frozen=True)
class Close:
    """Close the socket, optionally after sending the event that caused it."""

    code: int
    reason: str
    send_first: bool = False


Decision = Verdict | Close

# Which close reason wins when several arrive before the socket is closed.
_PRECEDENCE = {
    Code.TOO_SLOW: 0,
    Code.FORBIDDEN: 1,
    Code.NOT_LOGGED_IN: 2,
    Code.NOT_FOUND: 3,
}


class RealtimeConsumer(AsyncWebsocketConsumer):
    """A page's socket on one topic, resumable from a cursor."""

    # Events arrive by a direct call from the layer (`deliver`), never through Channels' per-socket
    # receive queue, so the consumer asks Channels for no layer: that saves a task and a queue per
    # socket. An alias with no configuration makes `get_channel_layer` return None.
    channel_layer_alias = "realtime-direct-delivery"

    topic: str
    user_id: int | None = None

    # Subclass API -------------------------------------------------------------------------

    def parse_topic(self) -> str:
        """The topic (group) named by the URL."""
        raise NotImplementedError

    def authorize(self) -> Close | None:
        """Check access in the current transaction; keep what `decide` needs on ``self``."""
        raise NotImplementedError

    def decide(self, event: events.LogEvent) -> Decision:
        """Whether this subscriber gets ``event``: dispatch to the method named by its type."""
        revoked = revocation.decide(self, event)
        if revoked is not None:
            return revoked
        if self.topic not in event.topics:
            # Events reach a socket on its user and session groups only to end its access.
            return Verdict.SKIP
        handler = getattr(self, "on_" + event.type, None)
        if handler is None:
            logger.warning("no handler for event type %s on %s; not sent", event.type, self.topic)
            return Verdict.SKIP
        return handler(event)

    # Lifecycle ----------------------------------------------------------------------------

    async def connect(self) -> None:
        self._frames: collections.deque[str] = collections.deque()
        self._wakeup = asyncio.Event()
        self._closing: Close | None = None
        self._replaying = True
        self._pending: list[events.LogEvent] = []
        self._last_event_id: int | None = None
        self._until: cursors.Snapshot | None = None
        self._writer: asyncio.Task[None] | None = None
        self._attached = False
        self._limit = conf.get("REALTIME_SOCKET_BACKLOG")
        self.topic = self.parse_topic()
        refusal = self._refuse_early()
        if refusal is not None:
            await self._refuse(refusal)
            return
        try:
            cursor = self._parse_cursor()
        except exceptions.InvalidCursor as exc:
            await self._refuse(Close(Code.BAD_CURSOR, str(exc)))
            return
        try:
            await service.ready()
        except exceptions.ListenerUnavailable:
            await self._refuse(Close(Code.UNAVAILABLE, "real-time service unavailable, retry"))
            return
        if self._over_cap():
            await self._refuse(Close(Code.TOO_MANY_SOCKETS, "too many open sockets"))
            return
        self._join()
        try:
            refusal, until, pruned_below = await self._open()
        except db.DatabaseError:
            # Postgres went away between the listener's check and ours: leave the groups, 4503.
            logger.warning("socket user=%s topic=%s: database unavailable", self.user_id, self.topic)
            await self._refuse(Close(Code.UNAVAILABLE, "database unavailable, retry"))
            return
        self._until = until
        # Accept only now: once the page sees the socket open, every later commit reaches it.
        # Refusals are accepted too, then closed: a close before accept is an HTTP 403 that a
        # page cannot tell apart.
        if refusal is not None:
            await self._refuse(refusal)
            return
        await self.accept()
        metrics.SOCKETS_OPENED.labels(self.topic_kind).inc()
        if cursor is not None and await self._resync(cursor, pruned_below):
            return
        logger.info("socket open user=%s topic=%s resume=%s", self.user_id, self.topic, cursor is not None)
        if cursor is not None:
            await self._replay(cursor, until)
            # A prune that committed while the replay read may have taken what it needed.
            if await self._resync(cursor, pruned_below):
                return
        self._replaying = False
        pending, self._pending = self._pending, []
        for event in pending:
            # The replay (or, without a cursor, "now") covers what `until` sees.
            if not until.sees(event.xid):
                self._consider(event)
        self._writer = asyncio.create_task(self._write(), name="socket-writer %s" % self.channel_name)

    async def disconnect(self, code: int) -> None:
        self._detach()
        if getattr(self, "_writer", None) is not None:
            self._writer.cancel()
        metrics.SOCKETS_CLOSED.labels(self.topic_kind, str(code)).inc()
        logger.info("socket closed user=%s topic=%s code=%s", self.user_id, getattr(self, "topic", "?"), code)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Pages have nothing to say on these sockets: their frames are dropped here, before
        # Channels' per-message database clean-up, so a flood costs next to nothing.
        if message["type"] == "websocket.receive":
            return
        await super().dispatch(message)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        await self.disconnect(message.get("code", 1006))
        raise StopConsumer()

    @property
    def topic_kind(self) -> str:
        return getattr(self, "topic", "unknown").split("_", 1)[0]

    # Delivery -----------------------------------------------------------------------------

    def deliver(self, event: events.LogEvent) -> None:
        """Called by the channel layer for each event of this socket's groups, in order."""
        if event.id == self._last_event_id:
            return  # the same event reached us through a second group
        self._last_event_id = event.id
        if self._until is not None and self._until.sees(event.xid):
            # Covered by the replay, or older than the socket: a listener that lags behind
            # `until` (or is catching up after a reconnect) must not deliver it again.
            return
        if self._replaying:
            if len(self._pending) >= self._limit:
                self._fail_slow()
            else:
                self._pending.append(event)
            return
        self._consider(event)

    def _consider(self, event: events.LogEvent) -> None:
        if self._closing is not None:
            # One transaction can carry several reasons (deleting a room first removes its
            # members): the close code names the most fundamental one.
            decision = self.decide(event)
            if isinstance(decision, Close) and _PRECEDENCE.get(decision.code, 0) > _PRECEDENCE.get(
                self._closing.code, 0
            ):
                self._closing = dataclasses.replace(decision, send_first=False)
            return
        decision = self.decide(event)
        if decision is Verdict.SKIP:
            return
        if isinstance(decision, Close):
            if decision.send_first:
                self._frames.append(event.frame)
            self._closing = decision
            self._wakeup.set()
            return
        if len(self._frames) >= self._limit:
            self._fail_slow()
            return
        self._frames.append(event.frame)
        self._wakeup.set()

    def abort(self, reason: str) -> None:
        """Close resumably (1011) after a delivery failed; the page resumes from its cursor."""
        self._frames.clear()
        self._pending.clear()
        self._closing = Close(Code.INTERNAL_ERROR, reason)
        self._wakeup.set()

    def revoke(self, close: Close) -> None:
        """Close after a check that ran outside ``decide`` found that access has ended."""
        rank = {int(code): value for code, value in _PRECEDENCE.items()}
        if self._closing is None or rank.get(close.code, 0) > rank.get(self._closing.code, 0):
            self._closing = close
            self._wakeup.set()

    def _fail_slow(self) -> None:
        """The page reads slower than events arrive: close it, resumable, instead of dropping."""
        logger.warning(
            "socket user=%s topic=%s too slow; closing with %d", self.user_id, self.topic, Code.TOO_SLOW
        )
        metrics.SLOW_CLOSES.inc()
        self._frames.clear()
        self._pending.clear()
        self._closing = Close(Code.TOO_SLOW, "too slow; resume from your last cursor")
        self._wakeup.set()

    async def _write(self) -> None:
        send = self.scope.get(listener_asgi.RAW_SEND, self.base_send)
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            metrics.observe_backlog(len(self._frames))
            sent = 0
            while self._frames:
                await send({"type": "websocket.send", "text": self._frames.popleft()})
                sent += 1
            # One counter update per wake-up, not per frame: it takes a lock.
            metrics.FRAMES_SENT.inc(sent)
            if self._closing is not None:
                await self._close_now(self._closing)
                return

    async def _refuse(self, close: Close) -> None:
        self._detach()
        await self.accept()
        logger.info("socket refused user=%s topic=%s code=%d", self.user_id, self.topic, close.code)
        await self.close(code=int(close.code), reason=close.reason)

    async def _close_now(self, close: Close) -> None:
        self._detach()
        await self.close(code=int(close.code), reason=close.reason)

    # Joining and resuming -----------------------------------------------------------------

    def _refuse_early(self) -> Close | None:
        if not socket_origin.allowed(self.scope):
            return Close(Code.FORBIDDEN, "origin not allowed")
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return Close(Code.NOT_LOGGED_IN, "log in first")
        self.user_id = user.pk
        return None

    def _parse_cursor(self) -> cursors.Cursor | None:
        query = urllib.parse.parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        values = query.get("cursor")
        if not values or not values[0]:
            return None
        return cursors.Cursor.decode(values[0])

    def _groups(self) -> list[str]:
        groups = [self.topic, topic_names.USER.name(self.user_id)]
        session = self.scope.get("session")
        if session is not None and session.session_key:
            groups.append(topic_names.SESSION.name(session.session_key))
        return list(dict.fromkeys(groups))

    def _over_cap(self) -> bool:
        # Every socket of a user is in the group user_<id>; no await between this and `_join`.
        cap = conf.get("REALTIME_MAX_SOCKETS_PER_USER")
        return cap is not None and service.channel_layer().members(topic_names.USER.name(self.user_id)) >= cap

    def _join(self) -> None:
        layer = service.channel_layer()
        self.channel_name = layer.channel_name()
        layer.attach(self.channel_name, self)
        for group in self._groups():
            layer.join(group, self.channel_name)
        self._attached = True

    def _detach(self) -> None:
        if getattr(self, "_attached", False):
            service.channel_layer().detach(self.channel_name)
            self._attached = False

    @database_sync_to_async
    def _open(self) -> tuple[Close | None, cursors.Snapshot, int]:
        """Resume point and access, read in one snapshot so that they agree."""
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cur.execute(queries.get("resume_point"))
                until, pruned_below = cur.fetchone()
            refusal = self.authorize()
        return refusal, cursors.Snapshot.parse(until), int(pruned_below)

    async def _resync(self, cursor: cursors.Cursor, legacy_below: int) -> bool:
        """Send `resync_required` and close 4410 if the cursor may have missed a pruned event."""
        reason = await retention.resync_reason(cursor, [self.topic], legacy_below)
        if reason is None:
            return False
        await self.send(text_data=events.frame("resync_required", {"reason": reason}))
        await self._close_now(Close(Code.RESYNC_REQUIRED, "cursor expired"))
        return True

    async def _replay(self, since: cursors.Cursor, until: cursors.Snapshot) -> None:
        after_xid, after_id = 0, 0
        page = conf.get("REALTIME_REPLAY_PAGE")
        while True:
            rows = await self._replay_page(since, until, after_xid, after_id, page)
            for event_id, xid_text, topics, event_type, payload, _created in rows:
                after_xid, after_id = int(xid_text), event_id
                if since.seen(after_xid, event_id):
                    continue
                event = events.LogEvent(
                    event_id,
                    after_xid,
                    topics,
                    event_type,
                    payload,
                    since.after(until, after_xid, event_id).encode(),
                )
                decision = self.decide(event)
                # Access was read at `until`, so history never closes the socket: its
                # access-changing events are only forwarded if the page would see them.
                if decision is Verdict.SEND or (isinstance(decision, Close) and decision.send_first):
                    await self.send(text_data=event.frame)
                    metrics.FRAMES_SENT.inc()
            if len(rows) < page:
                return

    @database_sync_to_async
    def _replay_page(
        self, since: cursors.Cursor, until: cursors.Snapshot, after_xid: int, after_id: int, limit: int
    ) -> list[tuple[Any, ...]]:
        with connection.cursor() as cur:
            cur.execute(
                queries.get("replay_page"),
                {
                    "topics": [self.topic],
                    "since": str(since.snapshot),
                    "until": str(until),
                    "after_xid": str(after_xid),
                    "after_id": after_id,
                    "limit": limit,
                },
            )
            return cur.fetchall()


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _origin_allowed(origin: str) -> bool:
    host = urllib.parse.urlsplit(origin).hostname
    if not host:
        return False
    return any(pattern == "*" or http.is_same_domain(host, pattern) for pattern in settings.ALLOWED_HOSTS)

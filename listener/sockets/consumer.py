"""The base of every real-time socket: its lifecycle and the dispatch of events to its handlers.

Connecting with a cursor: join the groups first, then read the resume point and the
subscriber's access in one REPEATABLE READ transaction, accept, replay the log from the cursor
up to that point, then forward the live events that arrived meanwhile, dropping those the
replay already covered. Replayed and live events pass the same per-subscriber filter.

Replay and live writing run in a task of their own, so a page that goes away mid-replay is
noticed at once; however the consumer ends (even cancelled), it leaves its groups.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django import db

from listener import exceptions, metrics
from listener.layer import channel_layer
from listener.log import cursors, events
from listener.sockets import expiry, gaps, handshake, lifecycle, outbox, presence, recheck, replay, revocation
from listener.sockets.decisions import Close, Code, Decision, Verdict, stronger
from listener.sockets.lifecycle import SocketState

logger = logging.getLogger(__name__)


class RealtimeConsumer(AsyncWebsocketConsumer):
    """A page's socket on one topic, resumable from a cursor."""

    access_since: int | None = None
    session_watch: lifecycle.SessionWatch | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = SocketState.CONNECTING
        self.topic = "unknown"
        # The user's primary key as Django gives it (int, UUID, str...), None until the handshake.
        self.user_id: Any = None
        self.channel_name = ""
        self.joined = False
        self.outbox = outbox.Outbox(self._label(), self._fail)
        # The resume point: events it sees were replayed (or predate the socket).
        self.until: cursors.Snapshot | None = None
        self.last_event_id: int | None = None
        self.task: asyncio.Task[None] | None = None
        self.closer: asyncio.Task[None] | None = None
        self.expiry = expiry.SessionExpiry(self)

    # Subclass API -------------------------------------------------------------------------

    def parse_topic(self) -> str:
        """The topic (group) named by the URL (the user may not be read yet: ``lazy_user``)."""
        raise NotImplementedError

    def authorize(self) -> Close | None:
        """Check access in the current transaction; keep what `decide` needs on ``self``, and
        in ``access_since`` the grant's xid8 (a cursor that does not see it must resync).
        Prefer reads: sockets that connect together share the transaction, and a database error
        in another's check runs this one again in a new one (``access_batches``)."""
        raise NotImplementedError

    def decide(self, event: events.LogEvent) -> Decision:
        """Whether this subscriber gets ``event``: dispatch to the method named by its type."""
        revoked = revocation.decide(self, event)
        if revoked is not None:
            return revoked
        if not event.on(self.topic):
            # Events reach a socket on its user and session groups only to end its access.
            return Verdict.SKIP
        rechecked = recheck.decide(self, event)
        if rechecked is not None:
            return rechecked
        handler = getattr(self, "on_" + event.type, None)
        if handler is None:
            logger.warning("no handler for event type %s on %s; not sent", event.type, self.topic)
            return Verdict.SKIP
        result: Decision = handler(event)
        return result

    # Lifecycle ----------------------------------------------------------------------------

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Read the page's messages in this coroutine. Events come by direct call (``deliver``),
        not by a layer channel (there is no ``channel_layer``): Channels' loop would race the two
        with a new task per message, and each idle socket would hold one."""
        self.scope = scope
        self.base_send = send
        receive = handshake.own_receive(scope, receive)
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            # Daphne cancels a consumer that outlives its connection by 10 s; `disconnect`
            # never runs then, and a socket still in its groups would keep taking events,
            # counting against the user's cap and in /health.
            self._shut(1006)

    async def connect(self) -> None:
        self.topic = self.parse_topic()
        refusal, self.user_id, cursor = await handshake.admission(self.scope)
        self.outbox.label = self._label()
        if refusal is not None:
            await self._refuse(refusal)
            return
        self._join()
        try:
            refusal, until, pruned_below = await handshake.access(self)
        except db.DatabaseError:
            # Postgres went away between the listener's check and ours: leave the groups, 4503.
            logger.warning("socket %s: database unavailable", self._label())
            await self._refuse(Close(Code.UNAVAILABLE, "database unavailable, retry"))
            return
        self.until = until
        # Accept only now: once the page sees the socket open, every later commit reaches it.
        # Refusals are accepted too, then closed: a close before accept is an HTTP 403 that a
        # page cannot tell apart.
        if refusal is not None:
            await self._refuse(refusal)
            return
        await self.accept()
        metrics.SOCKETS_OPENED.labels(self.topic_kind).inc()
        if cursor is not None and await gaps.resync_if_missed(self, cursor, pruned_below):
            return
        self.expiry.arm()
        logger.info("socket open %s resume=%s", self._label(), cursor is not None)
        if self.state is SocketState.CONNECTING:
            self.state = SocketState.REPLAYING
            self.task = asyncio.create_task(
                self._deliver(cursor, until, pruned_below), name="socket %s" % self.channel_name
            )
            self.task.add_done_callback(self._delivery_ended)
            presence.opened(self)

    async def disconnect(self, code: int) -> None:
        self._shut(code)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Skip Channels' per-message trip to its database thread (every query here returns its
        connection to the pool), a third per handshake. Pages' own frames are dropped."""
        if (kind := message["type"]) == "websocket.connect":
            await self.websocket_connect(cast(Any, message))
        elif kind == "websocket.disconnect":
            await self.websocket_disconnect(message)
        elif kind != "websocket.receive":
            await super().dispatch(message)

    async def websocket_disconnect(self, message: Any) -> None:
        await self.disconnect(message.get("code", 1006))
        raise StopConsumer()

    @property
    def topic_kind(self) -> str:
        return self.topic.split("_", 1)[0]

    def _shut(self, code: int) -> None:
        """Leave the groups and stop sending; once, whichever way the socket ends."""
        if self.state is SocketState.CLOSED:
            return
        self.state = SocketState.CLOSED
        self._detach()
        self.outbox.stop()
        self.expiry.cancel()
        for task in (self.task, self.closer):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        metrics.SOCKETS_CLOSED.labels(self.topic_kind, str(code)).inc()
        logger.info("socket closed %s code=%s", self._label(), code)

    def _label(self) -> str:
        return "user=%s topic=%s" % (self.user_id, self.topic)

    # Delivery -----------------------------------------------------------------------------

    def deliver(self, event: events.LogEvent) -> None:
        """Called by the channel layer for each event of this socket's groups, in order."""
        if event.id == self.last_event_id:
            return  # the same event reached us through a second group
        self.last_event_id = event.id
        if self.until is not None and self.until.sees(event.xid):
            # Covered by the replay, or older than the socket: a listener that lags behind
            # `until` (or is catching up after a reconnect) must not deliver it again.
            return
        if self.state in (SocketState.CONNECTING, SocketState.REPLAYING, SocketState.RECHECKING):
            self.outbox.hold(event)
        elif self.state is not SocketState.CLOSED:
            self._consider(event)

    def _consider(self, event: events.LogEvent) -> None:
        if self.state is SocketState.RECHECKING:
            self.outbox.hold(event)  # an earlier event of the batch paused the socket
            return
        decision = self.decide(event)
        if self.state is SocketState.CLOSING:
            # One transaction can carry several reasons: the close code names the most fundamental.
            if isinstance(decision, Close) and self.outbox.closing is not None:
                self.outbox.closing = stronger(self.outbox.closing, decision)
            return
        if decision is Verdict.SKIP:
            return
        if isinstance(decision, Close):
            if decision.send_first:
                self.outbox.push(event.frame)
            self.state = SocketState.CLOSING
            self.outbox.finish(decision)
            return
        self.outbox.push(event.frame)

    def resume(self) -> None:
        """Back to live after an access re-check that kept access (``listener.sockets.recheck``)."""
        if self.state is SocketState.RECHECKING:
            self.state = SocketState.LIVE
            for event in self.outbox.release():
                self._consider(event)

    def abort(self, reason: str) -> None:
        """Close resumably (4500) after a delivery failed; the page resumes from its cursor."""
        self.outbox.fail(Close(Code.DELIVERY_FAILED, reason))

    def revoke(self, close: Close) -> None:
        """Close after a check that ran outside ``decide`` found that access has ended."""
        if self.state is SocketState.CLOSED:
            return
        if self.state is SocketState.CLOSING and self.outbox.closing is not None:
            self.outbox.closing = stronger(self.outbox.closing, close)
            return
        self.state = SocketState.CLOSING
        self.outbox.finish(close)

    def _fail(self, close: Close) -> None:
        """Stop sending now and close, even if the writer is stuck on a page that does not read."""
        if self.state is SocketState.CLOSED:
            return
        self.state = SocketState.CLOSING
        if self.task is not None:
            self.task.cancel()
        self._close_soon(close)

    def _delivery_ended(self, task: asyncio.Task[None]) -> None:
        """A replay or writer that failed closes the socket resumably (4500) instead of going quiet."""
        if task.cancelled() or task.exception() is None:
            return
        if isinstance(task.exception(), exceptions.ConnectionGone):
            logger.info("socket %s: connection gone while sending (%s)", self._label(), task.exception())
            self._shut(1006)
            return
        logger.error("socket %s: delivery failed", self._label(), exc_info=task.exception())
        if self.state is not SocketState.CLOSED:
            self.state = SocketState.CLOSING
            self._close_soon(Close(Code.DELIVERY_FAILED, "delivery failed; resume from your last cursor"))

    def _close_soon(self, close: Close) -> None:
        self.closer = asyncio.create_task(self.close_with(close), name="socket-close %s" % self.channel_name)

    async def _deliver(self, cursor: cursors.Cursor | None, until: cursors.Snapshot, pruned: int) -> None:
        send = outbox.raw_send(self.scope, self.base_send)
        if cursor is not None:
            await replay.send_history(self.decide, self.outbox, send, [self.topic], cursor, until)
            # A prune that committed while the replay read may have taken what it needed.
            if await gaps.resync_if_missed(self, cursor, pruned):
                return
        if self.state is SocketState.REPLAYING:
            self.state = SocketState.LIVE
        for event in self.outbox.release():
            # The replay (or, without a cursor, "now") covers what `until` sees.
            if not until.sees(event.xid) and self.state is not SocketState.CLOSED:
                self._consider(event)
        close = await self.outbox.write(send)
        await self.close_with(close)

    async def _refuse(self, close: Close) -> None:
        self._detach()
        self.state = SocketState.CLOSING
        await self.accept()
        logger.info("socket refused %s code=%d", self._label(), close.code)
        await self.close(code=int(close.code), reason=close.reason)

    async def close_with(self, close: Close) -> None:
        self._detach()
        if self.state is not SocketState.CLOSED:
            self.state = SocketState.CLOSING
        await self.close(code=int(close.code), reason=close.reason)

    # Groups and the resume point ------------------------------------------------------------

    def _join(self) -> None:
        self.channel_name = handshake.join(self, self.scope, self.topic, self.user_id)
        self.joined = True

    def _detach(self) -> None:
        presence.closed(self)
        if self.joined:
            channel_layer.default().detach(self.channel_name)
            self.joined = False

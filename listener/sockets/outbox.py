"""One socket's outbox: the frames queued for the page, the writer that sends them, and the slow rule.

The slow rule. A page is closed with 4008 (resumable) only when it really does not read: when
what it has not read stays above ``REALTIME_SOCKET_BACKLOG`` frames for
``REALTIME_SLOW_GRACE`` seconds without shrinking. What it has not read is the frames queued
here, the live events held while it replays, and, where the server tells us, what the transport
still holds (in frames of the average size sent). A burst is allowed to exceed the limit while it
is drained: one transaction of 10,000 rows lands in every room socket's outbox at once, and a
page that reads reaches the end of it; a page that does not read shows no shrinking backlog at
the next check and is closed. A page that reads, but slower than events arrive, grows between
checks and is closed too, so the memory held for one page is bounded by what arrives in one
grace period beyond the limit.
"""

from __future__ import annotations

import asyncio
import collections
import collections.abc
import functools
import json
import logging
import typing
from typing import Any

from listener import conf, exceptions, metrics
from listener.log import cursors, events
from listener.sockets import decisions

logger = logging.getLogger(__name__)

Send = collections.abc.Callable[[dict[str, Any]], collections.abc.Awaitable[None]]
# Scope key holding the server's own send callable, for frames after the handshake
# (listener.sockets.asgi puts it there; middlewares' send wrappers only matter for the handshake).
RAW_SEND = "realtime.raw_send"

# A replay reads its next page only when the transport holds less than this for the page.
TRANSPORT_LOW_WATER = 256 * 1024
_DRAIN_POLL = 0.02
# A frame at least this long whose send fails is taken to be over the server's message limit
# (daphne's is 1 MiB by default); a shorter one failing means the connection is gone.
LARGE_FRAME = 64 * 1024
TOO_LARGE = "event_too_large"


async def send_frame(send: Send, frame: str, label: str, source: str | None = None) -> None:
    """Send one frame; one the server refuses for its size becomes a small ``event_too_large``.

    ``source`` is the event's JSON frame when ``frame`` stands in for it (a live region's HTML).

    The stand-in carries the refused frame's own cursor, so a page that resumes after it does not
    ask for the same event again (resuming from before it would fail the same way forever); the
    page reloads its data instead (docs/reference/close-codes.md).
    """
    try:
        await send({"type": "websocket.send", "text": frame})
    except Exception as exc:
        if len(frame) < LARGE_FRAME:
            # Servers say so each in their own way (uvicorn an OSError, daphne autobahn's
            # Disconnected): a page closing or dropping mid-send is ordinary, not a failure.
            raise exceptions.ConnectionGone("%s: %s" % (type(exc).__name__, exc)) from exc
        stand_in, event_id = too_large(source or frame)
        # Sent before logging: if it fails too, the connection is gone and the writer's failure
        # is what gets reported.
        await send({"type": "websocket.send", "text": stand_in})
        logger.error(
            "socket %s: event %s (%d characters) could not be sent (%s: %s); sent %s instead",
            label,
            event_id,
            len(frame),
            type(exc).__name__,
            exc,
            TOO_LARGE,
        )


def too_large(frame: str) -> tuple[str, int | None]:
    """The stand-in for a frame too large to send, and the log id of its event (if it has one)."""
    parsed = json.loads(frame)
    kwargs = parsed.get("kwargs")
    payload_id = kwargs.get("id") if isinstance(kwargs, dict) else None
    cursor = parsed.get("cursor") or ""
    event_id = None
    try:
        # A frame's cursor marks its own event as the first partly delivered one.
        partial = cursors.Cursor.decode(cursor).partial if cursor else {}
        event_id = partial[min(partial)] if partial else None
    except exceptions.InvalidCursor:
        pass
    body = {"type": parsed.get("type"), "id": payload_id, "size": len(frame.encode())}
    return events.frame(TOO_LARGE, body, cursor), event_id


def raw_send(scope: collections.abc.Mapping[str, Any], base_send: Any) -> Send:
    """The server's own send for a socket's frames after the handshake (``RAW_SEND``, or the
    consumer's): middlewares' send wrappers only matter for the handshake."""
    return typing.cast(Send, scope.get(RAW_SEND, base_send))


def transport_backlog(send: Send) -> int | None:
    """Bytes the server has taken from us for this socket but not yet written to it; None: unknown.

    Under uvicorn ``send`` waits for the socket to drain, so nothing piles up and this is None.
    Daphne's ``send`` returns at once and buffers in Twisted without bound: its send callable is
    ``partial(server.handle_reply, protocol)``, and the protocol's TCP transport knows how much
    it holds. Anything else, or a daphne whose internals moved: None. (Until daphne's own
    backpressure is fixed, this is the one place that reads its internals.)
    """
    if not isinstance(send, functools.partial) or not send.args:
        return None
    transport = getattr(send.args[0], "transport", None)
    buffered = getattr(transport, "dataBuffer", None)
    written = getattr(transport, "offset", None)
    temp = getattr(transport, "_tempDataLen", None)
    if (
        not isinstance(buffered, bytes | bytearray)
        or not isinstance(written, int)
        or not isinstance(temp, int)
    ):
        return None
    return len(buffered) - written + temp


async def transport_drained(send: Send) -> None:
    """Wait until the transport holds little for this page (at once where that is unknown)."""
    while (held := transport_backlog(send)) is not None and held > TRANSPORT_LOW_WATER:
        await asyncio.sleep(_DRAIN_POLL)


class Outbox:
    """The frames on their way to one page, and the live events held while it replays."""

    def __init__(self, label: str, on_fail: collections.abc.Callable[[decisions.Close], None]) -> None:
        self.label = label
        # A live region's outbox (``listener.sockets.region_outbox``) queues other entries too.
        self.frames: collections.deque[Any] = collections.deque()
        self.held: list[events.LogEvent] = []
        self.closing: decisions.Close | None = None
        self.send: Send | None = None
        self.on_fail = on_fail
        # The writer's wait for frames, while it waits: a bare future (an Event would keep a
        # deque of waiters per socket, about 0.7 KB each for thousands of idle sockets).
        self._waiter: asyncio.Future[None] | None = None
        self._limit: int = conf.socket_backlog()
        self._grace: float = conf.slow_grace()
        self._check: asyncio.TimerHandle | None = None
        self._mark = 0
        self._bytes_sent = 0
        self._frames_sent = 0

    # What the page has not read ---------------------------------------------------------

    def unread(self) -> int:
        count = len(self.frames) + len(self.held)
        held = transport_backlog(self.send) if self.send is not None else None
        if held and self._frames_sent:
            count += held * self._frames_sent // max(self._bytes_sent, 1)
        return count

    def _watch(self) -> None:
        if self._check is None and self.closing is None and self.unread() > self._limit:
            self._mark = self.unread()
            self._check = asyncio.get_running_loop().call_later(self._grace, self._recheck)

    def _recheck(self) -> None:
        self._check = None
        if self.closing is not None:
            return
        unread = self.unread()
        if unread <= self._limit:
            return
        if unread >= self._mark:
            logger.warning(
                "socket %s too slow: %d frames unread for %.1fs; closing with %d",
                self.label,
                unread,
                self._grace,
                decisions.Code.TOO_SLOW,
            )
            metrics.SLOW_CLOSES.inc()
            self.fail(decisions.Close(decisions.Code.TOO_SLOW, "too slow; resume from your last cursor"))
            return
        self._mark = unread
        self._check = asyncio.get_running_loop().call_later(self._grace, self._recheck)

    # Queueing -----------------------------------------------------------------------------

    def hold(self, event: events.LogEvent) -> None:
        """Keep a live event that arrived while the page replays; it is decided afterwards."""
        self.held.append(event)
        self._watch()

    def release(self) -> list[events.LogEvent]:
        held, self.held = self.held, []
        return held

    def push(self, frame: str) -> None:
        self.frames.append(frame)
        self._wake()
        self._watch()

    def finish(self, close: decisions.Close) -> None:
        """Close after the frames already queued."""
        self.closing = close
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def fail(self, close: decisions.Close) -> None:
        """Close now, dropping what is queued: the page resumes from the last frame it read."""
        self.frames.clear()
        self.held.clear()
        self.closing = close
        self.stop()
        self.on_fail(close)

    def stop(self) -> None:
        if self._check is not None:
            self._check.cancel()
            self._check = None

    # Writing ------------------------------------------------------------------------------

    async def write(self, send: Send) -> decisions.Close:
        """Send queued frames as they come, until a close is asked for; return that close."""
        self.send = send
        while True:
            if not self._ready() and (self.closing is None or self.frames):
                # Nothing to send yet: woken by a push, a close, or (for a region) a rendering.
                self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
                continue
            metrics.observe_backlog(len(self.frames))
            sent = 0
            while self._ready():
                taken = self._take()
                if taken is None:
                    continue
                frame, source = taken
                await send_frame(send, frame, self.label, source)
                sent += 1
                self._bytes_sent += len(frame)
            self._frames_sent += sent
            # One counter update per wake-up, not per frame: it takes a lock.
            metrics.FRAMES_SENT.inc(sent)
            if self.closing is not None and not self.frames:
                self.stop()
                return self.closing

    def _ready(self) -> bool:
        """Whether the first queued frame can be sent now."""
        return bool(self.frames)

    def _take(self) -> tuple[str, str] | None:
        """The first queued frame: (the text to send, the JSON frame it stands for); None when
        this page gets nothing for it."""
        frame = self.frames.popleft()
        return frame, frame

    async def send_now(self, send: Send, frames: collections.abc.Sequence[str | tuple[str, str]]) -> None:
        """Hand replayed frames to the transport, then wait until it has room for more.

        A frame may come as (the text to send, the JSON frame it stands for), as ``_take`` gives it."""
        self.send = send
        for entry in frames:
            frame, source = entry if isinstance(entry, tuple) else (entry, entry)
            await send_frame(send, frame, self.label, source)
            self._bytes_sent += len(frame)
        self._frames_sent += len(frames)
        metrics.FRAMES_SENT.inc(len(frames))
        await transport_drained(send)

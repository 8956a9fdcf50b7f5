"""A live region's outbox: event frames become the region's HTML, and its cursor keeps up.

Where a JSON socket queues the event's frame, a region's queues the frame with the rendering it
stands for (``listener.sockets.fragments``), shared by every socket of the same variants. The
writer is woken when that rendering is done, not before: a thousand sockets waiting for one
render cost one wake-up each, not a wake-up to start waiting and another to go on.

Events the consumer lets through but that change nothing in the region (no stream applies, the
subscriber's variant is left out, the row is gone) send nothing. Their cursor still has to reach
the page, or a page that reconnects after a quiet spell on a busy topic replays them all again
(to no effect) before it is live. So once the queue has been empty for ``CURSOR_DELAY`` after
such an event, the page gets one small frame that changes nothing and carries the cursor of the
last event it was given (``listener.sockets.wire.cursor_only``): at most one per socket per
``CURSOR_DELAY``, however many events it skips.
"""

from __future__ import annotations

import asyncio
import collections.abc

from listener.log import events
from listener.sockets import decisions, outbox

# How long the queue stays empty after an event the region skipped before its cursor is sent.
CURSOR_DELAY = 1.0

# A rendering that failed (logged where it failed): nothing is sent and the cursor stays put.
FAILED = ""
# The region's HTML for an event; None: the event changes nothing in the region.
Rendering = asyncio.Future[str | None]
Translate = collections.abc.Callable[[events.Frame], Rendering]
# The frame that only moves the page's cursor (listener.sockets.wire.cursor_only, for its wire).
CursorFrame = collections.abc.Callable[[str], str]


class RegionOutbox(outbox.Outbox):
    """The frames on their way to one live region's page."""

    def __init__(
        self,
        label: str,
        on_fail: collections.abc.Callable[[decisions.Close], None],
        translate: Translate,
        cursor_frame: CursorFrame,
    ) -> None:
        super().__init__(label, on_fail)
        self.translate = translate
        self.cursor_frame = cursor_frame
        # The cursor of the last event this page was given, when nothing was sent for it.
        self.unsent: str | None = None
        self._cursor_timer: asyncio.TimerHandle | None = None
        self._writing = False

    def push(self, frame: str) -> None:
        if not isinstance(frame, events.Frame):
            super().push(frame)  # a control frame
            return
        rendering = self.translate(frame)
        self.frames.append((frame, rendering))
        if rendering.done():
            self._wake()
        else:
            rendering.add_done_callback(self._rendered)
        self._watch()

    def _rendered(self, rendering: Rendering) -> None:
        self._wake()

    def _ready(self) -> bool:
        if not self.frames:
            return False
        head = self.frames[0]
        return isinstance(head, str) or head[1].done()

    def _take(self) -> tuple[str, str] | None:
        head = self.frames.popleft()
        if isinstance(head, str):
            self.unsent = None
            return head, head
        frame, rendering = head
        html = rendering.result()
        if not html:
            if html is None:
                self._skipped(frame)
            return None
        self.unsent = None
        return html, frame

    async def write(self, send: outbox.Send) -> decisions.Close:
        self._writing = True
        if self.unsent is not None:
            self._arm()  # the replay ended on events that sent nothing
        return await super().write(send)

    async def send_now(
        self, send: outbox.Send, frames: collections.abc.Sequence[str | tuple[str, str]]
    ) -> None:
        """Replayed frames, each as the region's HTML (or nothing)."""
        sent: list[str | tuple[str, str]] = []
        for frame in frames:
            if isinstance(frame, tuple) or not isinstance(frame, events.Frame):
                sent.append(frame)
                continue
            # Shielded: a page that goes away mid-replay must not cancel a render others share.
            html = await asyncio.shield(self.translate(frame))
            if not html:
                if html is None:
                    self._skipped(frame)
            else:
                self.unsent = None
                sent.append((html, frame))
        await super().send_now(send, sent)

    def _skipped(self, frame: events.Frame) -> None:
        self.unsent = frame.cursor
        if self._writing:
            self._arm()

    def _arm(self) -> None:
        if self._cursor_timer is None and self.closing is None:
            self._cursor_timer = asyncio.get_running_loop().call_later(CURSOR_DELAY, self._send_cursor)

    def _send_cursor(self) -> None:
        self._cursor_timer = None
        # Only behind nothing: a frame still queued carries a later cursor, or is skipped and
        # arms this again.
        if self.unsent is not None and not self.frames and self.closing is None:
            super().push(self.cursor_frame(self.unsent))

    def stop(self) -> None:
        super().stop()
        if self._cursor_timer is not None:
            self._cursor_timer.cancel()
            self._cursor_timer = None

"""Sending a resuming socket the history it missed, page by page, through the same filter as live events."""

from __future__ import annotations

import asyncio
import collections.abc
import logging

from listener.log import cursors, events, history
from listener.sockets import decisions, outbox

logger = logging.getLogger(__name__)


async def send_history(
    decide: collections.abc.Callable[[events.LogEvent], decisions.Decision],
    box: outbox.Outbox,
    send: outbox.Send,
    topics: list[str],
    since: cursors.Cursor,
    until: cursors.Snapshot,
) -> None:
    """Send a socket the history it missed, one page at a time, each once the previous one is out."""
    async for page in history.pages(topics, since, until):
        frames: list[str] = []
        for event in page.events:
            try:
                decision = decide(event)
            except Exception:
                # Live, such an event closes the socket (4500) and the page resumes from before
                # it; failing here again would make that a loop, so history skips it, loudly.
                logger.exception("replaying event %d failed; skipped", event.id)
                continue
            # Access was read at `until`, so history never closes the socket: its
            # access-changing events are only forwarded if the page would see them.
            if decision is decisions.Verdict.SEND or (
                isinstance(decision, decisions.Close) and decision.send_first
            ):
                frames.append(event.frame)
        await box.send_now(send, frames)
        # Let handshakes and live traffic run between pages.
        await asyncio.sleep(0)

"""What the copied upstream layer suites share: the layers a test made, closed after it, and this
process's listener started before it (as a running server's would be)."""

from __future__ import annotations

import asyncio
import collections.abc

from listener.layer import channel_layer, process
from listener.log import waker

_made: list[channel_layer.PostgresChannelLayer] = []


def made(layer: channel_layer.PostgresChannelLayer) -> channel_layer.PostgresChannelLayer:
    _made.append(layer)
    return layer


async def layers() -> collections.abc.AsyncIterator[None]:
    """Start the listener and the waker, run the test, close every layer it made."""
    await process.ready()
    running = waker.current()
    if running is not None:
        await asyncio.wait_for(running.leading.wait(), 10)
    yield
    while _made:
        await _made.pop().close()

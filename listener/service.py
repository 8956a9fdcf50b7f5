"""The listener of this server process: started with the first request, one per event loop."""

from __future__ import annotations

import asyncio
import logging

from channels.layers import get_channel_layer

from listener import conf, events, exceptions, layer, waker, worker

logger = logging.getLogger(__name__)

_listener: worker.Listener | None = None


def channel_layer() -> layer.PostgresChannelLayer:
    found = get_channel_layer()
    if not isinstance(found, layer.PostgresChannelLayer):
        raise exceptions.ListenerError(
            "CHANNEL_LAYERS['default'] must be listener.layer.PostgresChannelLayer"
        )
    return found


def route(event: events.LogEvent) -> None:
    """Hand an event to the groups named by its topics, in this process."""
    target = channel_layer()
    for topic in event.topics:
        target.deliver(topic, event)


def current() -> worker.Listener | None:
    return _listener


def ensure_started() -> worker.Listener:
    """Start this process's listener if it is not running (cheap when it is).

    Daphne has no lifespan events, so the first request of a process starts it; under uvicorn
    the lifespan start-up does. A listener whose loop has gone (tests run one loop per test)
    is replaced.
    """
    global _listener
    loop = asyncio.get_running_loop()
    if _listener is None or _listener.loop is not loop or not _listener.running:
        if _listener is not None and _listener.loop is loop:
            logger.error("listener task ended; starting a new one")
        _listener = worker.Listener(route)
        _listener.start()
    waker.ensure_started()
    return _listener


async def ready() -> worker.Listener:
    """The running listener, once it has its first snapshot; `ListenerUnavailable` on timeout."""
    running = ensure_started()
    try:
        await asyncio.wait_for(running.ready.wait(), conf.get("REALTIME_LISTENER_READY_TIMEOUT"))
    except TimeoutError as exc:
        raise exceptions.ListenerUnavailable() from exc
    return running


async def stop() -> None:
    global _listener
    await waker.stop()
    if _listener is not None:
        await _listener.stop()
        _listener = None

"""The listener of this server process, which feeds its channel layer: started with the first
request, one per event loop.

The layer imports this module (a ``group_add`` waits for the listener); the listener feeds the
process's groups (``registry``), whichever layer instance recorded them, so the arrow points
one way.
"""

from __future__ import annotations

import asyncio
import collections.abc
import logging
import time
from typing import Any

from listener import conf, exceptions, gcstats
from listener.layer import registry
from listener.log import events, listen, waker

logger = logging.getLogger(__name__)

_listener: listen.Listener | None = None
# When this process's listener was started (time.monotonic()), for `settled`.
_started_at = 0.0
# How often `settled` looks whether the first connection attempt failed.
_SETTLE_POLL = 0.02
# How long each of this process's real-time tasks may take to stop.
_STOP_TIMEOUT = 10.0


def route(event: events.LogEvent) -> None:
    """Hand an event to the groups named by its topics, on every layer of this process."""
    registry.route(event)


def current() -> listen.Listener | None:
    return _listener


def ensure_started() -> listen.Listener:
    """Start this process's listener if it is not running (cheap when it is).

    Daphne has no lifespan events, so the first request of a process starts it; under uvicorn
    the lifespan start-up does. A listener whose loop has gone (tests run one loop per test)
    is replaced.
    """
    global _listener, _started_at
    loop = asyncio.get_running_loop()
    if _listener is None or _listener.loop is not loop or not _listener.running:
        if _listener is not None and _listener.loop is loop:
            logger.error("listener task ended; starting a new one")
        # A listener whose loop ended (a shell runs each `async_to_sync` call on a loop of its
        # own) is followed from where it stopped, so its process's group members miss nothing.
        since = _listener.snapshot if _listener is not None and _listener.loop is not loop else None
        gcstats.install()
        _listener = listen.Listener(route, since, waker.heard)
        _listener.start()
        _started_at = time.monotonic()
    waker.ensure_started()
    return _listener


async def ready() -> listen.Listener:
    """The running listener, once it has its first snapshot; `ListenerUnavailable` on timeout."""
    running = ensure_started()
    if running.ready.is_set():
        # Every handshake asks: once ready, no timed wait (a task and a timer each) is needed.
        return running
    try:
        await asyncio.wait_for(running.ready.wait(), conf.listener_ready_timeout())
    except TimeoutError as exc:
        raise exceptions.ListenerUnavailable() from exc
    return running


async def settled() -> listen.Listener:
    """The running listener, once its first connection attempt has succeeded or failed.

    A readiness probe right after start-up must see the listener's real state, not "not
    connected yet" because the probe itself started it (daphne has no lifespan events) or
    came a moment after uvicorn's start-up did. Waits at most REALTIME_LISTENER_READY_TIMEOUT
    from the listener's start; a listener that connected once, or failed once, answers at once.
    """
    running = ensure_started()
    deadline = _started_at + conf.listener_ready_timeout()
    while not running.ready.is_set() and running.reconnects == 0 and running.running:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            # The worker signals success with `ready`; a failure only shows in `reconnects`.
            await asyncio.wait_for(running.ready.wait(), min(left, _SETTLE_POLL))
        except TimeoutError:
            pass
    return running


async def stop() -> None:
    """Stop this process's waker and listener, each within `_STOP_TIMEOUT`: a shutdown must not
    hang on a database that does not answer. What a step leaves behind, the database cleans up
    anyway: the waker's lock ends with its session."""
    global _listener
    await bounded("waker", waker.stop())
    if _listener is not None:
        await bounded("listener", _listener.stop())
        _listener = None


async def bounded(name: str, stopping: collections.abc.Coroutine[Any, Any, None]) -> None:
    task = asyncio.ensure_future(stopping)
    done, _ = await asyncio.wait({task}, timeout=_STOP_TIMEOUT)
    if not done:
        logger.warning("the %s did not stop within %.0fs; leaving it to the database", name, _STOP_TIMEOUT)
        return
    task.result()

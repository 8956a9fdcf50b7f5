"""Garbage-collector pauses of this process, as Prometheus metrics, and the collector's tuning.

A broadcast's tail latency is mostly the collector: a full collection walks every object the
open sockets keep alive, and the event loop stands still meanwhile. ``/metrics`` counts the
collections and their total pause per generation, so a regression in the tail shows up with
its cause (``make bench`` reads them before and after each round).

Tuning (``REALTIME_GC_FREEZE``, ``REALTIME_GC_THRESHOLDS``) is applied once when the listener
starts; see docs/benchmarks.md for what each setting buys.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

import prometheus_client

from listener import conf

logger = logging.getLogger(__name__)

COLLECTIONS = prometheus_client.Counter(
    "realtime_gc_collections", "Garbage collections of this process", ["generation"]
)
PAUSE = prometheus_client.Counter(
    "realtime_gc_pause_seconds", "Time the event loop stood still in garbage collections", ["generation"]
)
PAUSE_MAX = prometheus_client.Gauge(
    "realtime_gc_pause_max_seconds", "Longest garbage collection of this process", ["generation"]
)

_counters = [(COLLECTIONS.labels(str(g)), PAUSE.labels(str(g)), PAUSE_MAX.labels(str(g))) for g in range(3)]
_longest = [0.0, 0.0, 0.0]
_started = 0.0
_installed = False


def _on_collection(phase: str, info: dict[str, Any]) -> None:
    global _started
    if phase == "start":
        _started = time.perf_counter()
        return
    took = time.perf_counter() - _started
    generation = info["generation"]
    count, pause, longest = _counters[generation]
    count.inc()
    pause.inc(took)
    if took > _longest[generation]:
        _longest[generation] = took
        longest.set(took)


def install() -> None:
    """Count collections, then apply the configured tuning; once per process."""
    global _installed, _freeze
    if _installed:
        return
    _installed = True
    gc.callbacks.append(_on_collection)
    thresholds = conf.gc_thresholds()
    if thresholds is not None:
        gc.set_threshold(*thresholds)
    _freeze = conf.gc_freeze()
    if _freeze:
        # What start-up created (modules, settings, URL patterns) lives as long as the process.
        gc.collect()
        gc.freeze()
    logger.info(
        "garbage collector: thresholds %s, %d objects frozen", gc.get_threshold(), gc.get_freeze_count()
    )


# Sockets live for minutes to hours, and each keeps ~170 tracked objects alive (its consumer,
# tasks, coroutines, the server's protocol): with 1,000 sockets a full collection walks a few
# hundred thousand objects, ~100-250 ms during which no frame goes out. So a batch of opened
# sockets is frozen too, a moment after the last handshake of the batch; what a closed socket
# leaves in a frozen cycle is collected when closed sockets reach a quarter of the frozen ones
# (one full collection then, as Python would do after that much growth), so memory stays bounded.
FREEZE_DELAY = 1.0
THAW_MIN = 64

_freeze = False
_pending: asyncio.TimerHandle | None = None
_pending_loop: asyncio.AbstractEventLoop | None = None
_open = 0
_closed_since_thaw = 0


def socket_opened() -> None:
    """A socket attached: freeze it with its batch, once the batch's handshakes are over."""
    global _open, _pending, _pending_loop
    _open += 1
    loop = asyncio.get_running_loop()
    # A timer of a loop that has ended since (tests run a loop each) never fires: start anew.
    if _freeze and (_pending is None or _pending_loop is not loop):
        _pending = loop.call_later(FREEZE_DELAY, _freeze_batch)
        _pending_loop = loop


def socket_closed() -> None:
    global _open, _closed_since_thaw
    _open -= 1
    _closed_since_thaw += 1
    if _freeze and _closed_since_thaw >= max(THAW_MIN, _open // 4):
        _closed_since_thaw = 0
        started = time.perf_counter()
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        logger.info("garbage collector: thawed after closes, %.1f ms", (time.perf_counter() - started) * 1000)


def _freeze_batch() -> None:
    global _pending
    _pending = None
    gc.freeze()

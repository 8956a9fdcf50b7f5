"""Garbage-collector pauses of this process, as Prometheus metrics, and the collector's tuning.

A broadcast's tail latency is mostly the collector: a full collection walks every object the
open sockets keep alive, and the event loop stands still meanwhile. ``/metrics`` counts the
collections and their total pause per generation, so a regression in the tail shows up with
its cause (``make bench`` reads them before and after each round).

Tuning (``REALTIME_GC_FREEZE``, ``REALTIME_GC_THRESHOLDS``) is applied once when the listener
starts; see docs/benchmarks.md for what each setting buys.
"""

from __future__ import annotations

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
    global _installed
    if _installed:
        return
    _installed = True
    gc.callbacks.append(_on_collection)
    thresholds = conf.get("REALTIME_GC_THRESHOLDS")
    if thresholds is not None:
        gc.set_threshold(*thresholds)
    if conf.get("REALTIME_GC_FREEZE"):
        # What start-up created (modules, settings, URL patterns) lives as long as the process:
        # out of the collector's way, a full collection walks only what came later.
        gc.collect()
        gc.freeze()
    logger.info("garbage collector: thresholds %s, %d objects frozen", gc.get_threshold(), gc.get_freeze_count())

"""The project's settings plus a SIGUSR1 hook that writes the server's live objects by type.

For the collector profile (``python -m bench.gc_profile``): the profile signals the server
before and after opening sockets and around events, and diffs the counts. With
``BENCH_TRACEMALLOC=N`` the server also traces its allocations (N frames each) and each dump
writes a tracemalloc snapshot beside the counts, so the profile can say which lines allocate
what an open socket holds.
"""

from __future__ import annotations

import collections
import gc
import json
import os
import signal
import time
import tracemalloc
from typing import Any

from project.settings import *  # noqa: F403

_DUMP = os.environ.get("BENCH_GC_DUMP", "")
_TRACE_FRAMES = int(os.environ.get("BENCH_TRACEMALLOC", "0"))
if _TRACE_FRAMES:
    tracemalloc.start(_TRACE_FRAMES)
if "BENCH_GC_FREEZE" in os.environ:
    REALTIME_GC_FREEZE = os.environ["BENCH_GC_FREEZE"] == "1"


def _dump(signum: int, frame: Any) -> None:
    started = time.perf_counter()
    gc.collect()
    full_ms = (time.perf_counter() - started) * 1000
    counts = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
    young = sum(len(gc.get_objects(g)) for g in (0, 1))
    body = {
        "full_ms": full_ms,
        "total": sum(counts.values()) + gc.get_freeze_count(),
        "young": young,
        "frozen": gc.get_freeze_count(),
        "types": counts,
    }
    if _TRACE_FRAMES:
        tracemalloc.take_snapshot().dump(_DUMP + ".trace")
    with open(_DUMP, "w") as out:
        json.dump(body, out)


if _DUMP:
    signal.signal(signal.SIGUSR1, _dump)

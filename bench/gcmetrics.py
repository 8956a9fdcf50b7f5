"""The server's garbage-collector figures, read from its ``/metrics`` before and after a round."""

from __future__ import annotations

import re
import urllib.request

_SAMPLE = re.compile(
    r'^realtime_gc_(collections_total|pause_seconds_total)\{generation="(\d)"\} (\S+)$', re.M
)

Stats = dict[str, float]


def read(port: int) -> Stats | None:
    """Collections and pause seconds per generation (``collections_2``, ``pause_2``...); None: no figures."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    stats: Stats = {}
    for kind, generation, value in _SAMPLE.findall(text):
        name = "collections" if kind == "collections_total" else "pause"
        stats["%s_%s" % (name, generation)] = float(value)
    return stats or None


def delta(before: Stats | None, after: Stats | None) -> Stats | None:
    """What happened between two readings, plus totals over the generations (pause in ms)."""
    if before is None or after is None:
        return None
    out = {key: after[key] - before.get(key, 0.0) for key in after}
    for key in list(out):
        if key.startswith("pause_"):
            out[key] *= 1000.0
    out["collections"] = sum(out.get("collections_%d" % g, 0.0) for g in range(3))
    out["pause_ms"] = sum(out.get("pause_%d" % g, 0.0) for g in range(3))
    return out


def describe(stats: Stats | None) -> str:
    if stats is None:
        return "no figures"
    return "; ".join(
        "gen%d: %d in %.1f ms" % (g, stats.get("collections_%d" % g, 0), stats.get("pause_%d" % g, 0.0))
        for g in range(3)
    )

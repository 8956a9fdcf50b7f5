"""Figures from the raw runs: medians with their spread, same-run ratios ours/baseline, the summary.

The report's page and plot, bench/fleet.py and bench/report_gc.py all read these, so one place
decides what a median, a ratio or a met target means.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench import report_gc


def percentiles(latencies: list[float]) -> dict[str, float | None]:
    """p50, p99 and max of sorted latencies (ms)."""
    if not latencies:
        return {"p50": None, "p99": None, "max": None}
    n = len(latencies)
    return {
        "p50": latencies[n // 2],
        "p99": latencies[min(n - 1, int(n * 0.99))],
        "max": latencies[-1],
    }


# Aggregation ----------------------------------------------------------------------------------


class Figure:
    """One figure over the runs: median and spread (min-max)."""

    def __init__(self, values: list[float | None]) -> None:
        self.values = [v for v in values if v is not None]

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    def show(self, fmt: str = "%.1f") -> str:
        if not self.values:
            return "n/a"
        if len(self.values) == 1:
            return fmt % self.values[0]
        return "%s (%s-%s)" % (fmt % self.median, fmt % min(self.values), fmt % max(self.values))


def _stage(run: dict[str, Any], design: str, subscribers: int) -> dict[str, Any] | None:
    stage: dict[str, Any]
    for stage in run["fanout"]:
        if stage["design"] == design and stage["subscribers"] == subscribers:
            return stage
    return None


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def _get(stage: dict[str, Any] | None, *path: str) -> float | None:
    value: Any = stage
    for key in path:
        if value is None:
            return None
        value = value.get(key)
    found: float | None = value
    return found


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """Medians, spreads and same-run ratios of every figure."""
    runs = result["runs"]
    subs = result["config"]["subscribers"]
    out: dict[str, Any] = {"latency": [], "best": [], "memory": [], "writes": {}, "catchup": None}
    for n in subs:
        for design in ("ours", "baseline"):
            stages = [_stage(r, design, n) for r in runs]
            row = {"design": design, "subscribers": n}
            for key in ("p50", "p99", "max"):
                row["fixed_" + key] = Figure([_get(s, "fixed", key) for s in stages])
                row["best_" + key] = Figure([_get(s, "best", key) for s in stages])
            row["fixed_lost"] = Figure([_get(s, "fixed", "lost") for s in stages])
            row["fixed_cpu"] = Figure([_get(s, "fixed", "cpu_us_per_frame") for s in stages])
            row["fixed_gc"] = Figure([_get(s, "fixed", "gc", "collections") for s in stages])
            row["fixed_gc_ms"] = Figure([_get(s, "fixed", "gc", "pause_ms") for s in stages])
            row["best_cpu"] = Figure([_get(s, "best", "cpu_us_per_frame") for s in stages])
            row["best_rate"] = Figure([_get(s, "best", "rate") for s in stages])
            row["best_deliveries"] = Figure([_get(s, "best", "deliveries_per_s") for s in stages])
            row["kb_per_socket"] = Figure([_get(s, "rss_kb_per_socket") for s in stages])
            row["opened"] = Figure([_get(s, "opened") for s in stages])
            out["latency"].append(row)
        ratio_p99 = Figure(
            [
                ratio(
                    _get(_stage(r, "ours", n), "fixed", "p99"), _get(_stage(r, "baseline", n), "fixed", "p99")
                )
                for r in runs
            ]
        )
        ratio_del = Figure(
            [
                ratio(
                    _get(_stage(r, "ours", n), "best", "deliveries_per_s"),
                    _get(_stage(r, "baseline", n), "best", "deliveries_per_s"),
                )
                for r in runs
            ]
        )
        out["best"].append({"subscribers": n, "p99_ratio": ratio_p99, "deliveries_ratio": ratio_del})
    # Deliveries/s per process: the best sustained over every subscriber count, per run.
    best: dict[str, list[float | None]] = {"ours": [], "baseline": []}
    for r in runs:
        for design in best:
            values = [_get(s, "best", "deliveries_per_s") for s in r["fanout"] if s["design"] == design]
            present = [v for v in values if v is not None]
            best[design].append(max(present) if present else None)
    out["deliveries"] = {d: Figure(v) for d, v in best.items()}
    quiet = [s for r in runs for s in r["fanout"] if s["design"] == "ours_quiet"]
    if quiet:
        out["quiet"] = {
            "subscribers": quiet[0]["subscribers"],
            **{key: Figure([_get(s, "fixed", key) for s in quiet]) for key in ("p50", "p99", "max", "lost")},
            "cpu": Figure([_get(s, "fixed", "cpu_us_per_frame") for s in quiet]),
        }
    out["deliveries_ratio"] = Figure(
        [ratio(a, b) for a, b in zip(best["ours"], best["baseline"], strict=True)]
    )
    writes = [r["writes"] for r in runs if r.get("writes")]
    if writes:
        for key in writes[0]:
            out["writes"][key] = Figure([w.get(key) for w in writes])
        for count in (1, 8):
            for mode in writes[0]:
                if mode.endswith("/%d" % count) and mode != "sql_plain/%d" % count:
                    name = mode.split("/")[0]
                    base = ("orm_baseline/%d" if name.startswith("orm_ours") else "sql_plain/%d") % count
                    out["writes"]["ratio:%s:%s" % (mode, base)] = Figure(
                        [ratio(w.get(mode), w.get(base)) for w in writes]
                    )
    out["light"] = report_gc.light_summary(result)
    catchups = [ms for r in runs if r.get("catchup") for ms in r["catchup"]["ms"]]
    if catchups:
        out["catchup"] = Figure(catchups)
    return out


def met(ok: bool | None) -> str:
    """A target's verdict: n/a when the figure is missing."""
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def ms(value: float | None) -> str:
    """Milliseconds as the progress lines print them."""
    return "-" if value is None else "%.1f" % value

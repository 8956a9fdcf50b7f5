"""Figures from the raw runs: medians with spread, ratios ours/baseline, the Markdown table and plot."""

from __future__ import annotations

import datetime
import os
import pathlib
import platform
import statistics
from typing import Any

import psutil
import psycopg

from bench import report_gc

TARGETS = {
    "deliveries": 3.0,
    "p99_ms": 25.0,
    "insert_ratio": 0.7,
    "kb_per_socket": 40.0,
}


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


def machine(url: str) -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        version = row[0] if row else "?"
    return {
        "cpu": cpu,
        "cores": psutil.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
        "postgres": version,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_at_end": [round(x, 1) for x in os.getloadavg()],
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
    for stage in run["fanout"]:
        if stage["design"] == design and stage["subscribers"] == subscribers:
            return stage
    return None


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def _get(stage: dict[str, Any] | None, *path: str) -> float | None:
    value: Any = stage
    for key in path:
        if value is None:
            return None
        value = value.get(key)
    return value


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
                _ratio(
                    _get(_stage(r, "ours", n), "fixed", "p99"), _get(_stage(r, "baseline", n), "fixed", "p99")
                )
                for r in runs
            ]
        )
        ratio_del = Figure(
            [
                _ratio(
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
            values = [v for v in values if v is not None]
            best[design].append(max(values) if values else None)
    out["deliveries"] = {d: Figure(v) for d, v in best.items()}
    quiet = [s for r in runs for s in r["fanout"] if s["design"] == "ours_quiet"]
    if quiet:
        out["quiet"] = {
            "subscribers": quiet[0]["subscribers"],
            **{key: Figure([_get(s, "fixed", key) for s in quiet]) for key in ("p50", "p99", "max", "lost")},
            "cpu": Figure([_get(s, "fixed", "cpu_us_per_frame") for s in quiet]),
        }
    out["deliveries_ratio"] = Figure(
        [_ratio(a, b) for a, b in zip(best["ours"], best["baseline"], strict=True)]
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
                        [_ratio(w.get(mode), w.get(base)) for w in writes]
                    )
    out["light"] = report_gc.light_summary(result)
    catchups = [ms for r in runs if r.get("catchup") for ms in r["catchup"]["ms"]]
    if catchups:
        out["catchup"] = Figure(catchups)
    return out


# Output ---------------------------------------------------------------------------------------


def write(result: dict[str, Any], docs: pathlib.Path) -> None:
    docs.mkdir(parents=True, exist_ok=True)
    s = summary(result)
    # daphne (the default server) gives the main page; other servers get their own files.
    server = result["config"]["server"]
    suffix = "" if server == "daphne" else "_" + server
    (docs / ("benchmarks%s.md" % suffix)).write_text(markdown(result, s, suffix))
    plot(result, s, docs / ("latency_vs_subscribers%s.png" % suffix))


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def markdown(result: dict[str, Any], s: dict[str, Any], suffix: str = "") -> str:
    m = result["machine"]
    c = result["config"]
    lines = [
        "# Benchmarks: ours vs. the article's Channels + channels-redis design",
        "",
        "Generated by `python -m bench.run%s` (`make bench` runs it without options) on %s; raw"
        " figures are written to `bench/results/raw/` (not committed)." % (_options(c), m["date"]),
        "",
        "**Machine**: %s, %s cores, %s GB RAM, %s; Python %s; PostgreSQL %s on the same machine (%s);"
        " Redis on 127.0.0.1:6379 (baseline only). Server: one `%s` process per design. Clients: %d"
        " processes with many sockets each, loopback. Everything shares the same cores, and other"
        " work ran on the machine during the run (load average at the start %s, at the end %s), so"
        " absolute figures are pessimistic; the same-run ratios are the fair comparison."
        % (
            m["cpu"],
            m["cores"],
            m["memory_gb"],
            m["os"],
            m["python"],
            m["postgres"],
            _db_name(c["database"]),
            c["server"],
            c["client_procs"],
            c.get("load_at_start", "?"),
            m.get("load_at_end", "?"),
        ),
        "",
        "Each figure is the **median of %d runs with the spread (min-max)** in parentheses; ratios are"
        " ours/baseline taken within the same run, then the median. Messages are %d characters;"
        " latency is commit-to-frame: the writer takes the time just after COMMIT returns, the client"
        " when the frame arrives (same machine clock)." % (c["runs"], c["message_size"]),
        "",
        "## 1. Commit-to-frame latency, one room, one server process",
        "",
        "At a fixed %g events/s:" % c["fixed_rate"],
        "",
        "| subscribers | design | p50 ms | p99 ms | max ms | frames lost | server CPU µs/frame |"
        " p99 ratio ours/baseline | GC collections |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    ratios = {b["subscribers"]: b for b in s["best"]}
    for row in s["latency"]:
        ratio = ratios[row["subscribers"]]["p99_ratio"].show("%.3f") if row["design"] == "ours" else ""
        lines.append(
            "| %d | %s | %s | %s | %s | %s | %s | %s | %s |"
            % (
                row["subscribers"],
                row["design"],
                row["fixed_p50"].show(),
                row["fixed_p99"].show(),
                row["fixed_max"].show(),
                row["fixed_lost"].show("%d"),
                row["fixed_cpu"].show("%.0f"),
                ratio,
                report_gc.gc_cell(row["fixed_gc"], row["fixed_gc_ms"]) if row["design"] == "ours" else "",
            )
        )
    if s.get("quiet"):
        q = s["quiet"]
        lines.append(
            '| %d | ours, `REALTIME_NOTIFY = "off"` (polls every 10 ms) | %s | %s | %s | %s | %s | |'
            % (
                q["subscribers"],
                q["p50"].show(),
                q["p99"].show(),
                q["max"].show(),
                q["lost"].show("%d"),
                q["cpu"].show("%.0f"),
            )
        )
    lines += report_gc.light_section(result, s.get("light"))
    lines += [
        "",
        "At the highest rate each design sustains (p99 <= %g ms, no frame lost, no socket closed; rates"
        " tried upwards until one fails):" % c["p99_budget_ms"],
        "",
        "| subscribers | design | events/s | deliveries/s | p50 ms | p99 ms | max ms | deliveries ratio |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in s["latency"]:
        ratio = ratios[row["subscribers"]]["deliveries_ratio"].show("%.1f") if row["design"] == "ours" else ""
        lines.append(
            "| %d | %s | %s | %s | %s | %s | %s | %s |"
            % (
                row["subscribers"],
                row["design"],
                row["best_rate"].show(),
                row["best_deliveries"].show("%.0f"),
                row["best_p50"].show(),
                row["best_p99"].show(),
                row["best_max"].show(),
                ratio,
            )
        )
    d = s["deliveries"]
    lines += [
        "",
        "![latency vs subscribers](latency_vs_subscribers%s.png)" % suffix,
        "",
        "## 2. Sustained deliveries/s per server process (p99 <= %g ms)" % c["p99_budget_ms"],
        "",
        "| ours | baseline | ratio |",
        "| ---: | ---: | ---: |",
        "| %s | %s | %s |"
        % (d["ours"].show("%.0f"), d["baseline"].show("%.0f"), s["deliveries_ratio"].show("%.1f")),
        "",
        "The best over the subscriber counts, per run. Where ours held the highest rate tried (%d"
        " deliveries/s) the figure is a lower bound: the single paced writer process is the limit"
        " there. With 1,000 and more subscribers neither design keeps a broadcast's p99 within %g ms"
        " on this machine even at the lowest rate tried (table 1 shows how far apart they are)."
        % (max(c.get("targets") or [0]), c["p99_budget_ms"]),
        "",
        "## 3. Write cost: inserts/s of chat messages, one transaction each",
        "",
        "| mode | 1 writer | 8 writers | ratio (1) | ratio (8) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    w = s["writes"]
    from bench import writers

    for mode, label in writers.MODES.items():
        if "%s/1" % mode not in w:
            continue
        base = "orm_baseline" if mode.startswith("orm_ours") else "sql_plain"
        r1 = w.get("ratio:%s/1:%s/1" % (mode, base)) if mode != "orm_baseline" else None
        r8 = w.get("ratio:%s/8:%s/8" % (mode, base)) if mode != "orm_baseline" else None
        lines.append(
            "| `%s`: %s | %s | %s | %s | %s |"
            % (
                mode,
                label,
                w["%s/1" % mode].show("%.0f"),
                w["%s/8" % mode].show("%.0f"),
                ("%s vs `%s`" % (r1.show("%.2f"), base)) if r1 else "",
                ("%s vs `%s`" % (r8.show("%.2f"), base)) if r8 else "",
            )
        )
    mem = {(r["design"], r["subscribers"]): r["kb_per_socket"] for r in s["latency"]}
    lines += [
        "",
        "## 4. Server RSS per idle socket",
        "",
        "RSS growth of the server process while the sockets connect, after %d warm-up sockets." % 10,
        "",
        "| sockets | ours KB/socket | baseline KB/socket | ours MB per 1,000 | baseline MB per 1,000 |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for n in c["subscribers"]:
        ours, base = mem[("ours", n)], mem[("baseline", n)]
        lines.append(
            "| %d | %s | %s | %s | %s |"
            % (
                n,
                ours.show(),
                base.show(),
                Figure([v * 1000 / 1024 for v in ours.values]).show(),
                Figure([v * 1000 / 1024 for v in base.values]).show(),
            )
        )
    lines += [
        "",
        "## 5. Catch-up after missing %d events" % c["catchup_events"],
        "",
        "A page takes the cursor of its last frame, goes away while %d messages commit, then reconnects"
        " with `?cursor=`: time from starting the connection to the last of the %d frames (all checked,"
        " in order). The baseline has no way to resume: its page misses those events and must reload."
        % (c["catchup_events"], c["catchup_events"]),
        "",
        "| ours ms | baseline |",
        "| ---: | --- |",
        "| %s | not possible (events lost) |" % (s["catchup"].show() if s["catchup"] else "n/a"),
        "",
        "## Targets",
        "",
    ]
    lines += targets(s, c)
    lines += report_gc.targets(s.get("light"), s["latency"], c["server"])
    lines += [
        "",
        "## Reading the figures",
        "",
        "- **What a frame costs.** Server CPU per frame is the figure least disturbed by other load."
        " A py-spy profile of ours at 1,000 subscribers (daphne) puts about three quarters of it in"
        " daphne's send path (autobahn `sendMessage`, twisted `FileDescriptor.write`, which"
        " registers and unregisters an epoll writer per frame, then the `send` system call) and about"
        " 15% in this project (listener step, `PostgresChannelLayer.deliver`, the consumer's"
        " `deliver`/`_consider`, its writer task). The baseline adds per member a Redis round trip,"
        " a worker-thread hop per message (sync consumer) and a JSON encoding per member.",
        "- **The 25 ms p99 at 1,000 subscribers is out of reach under daphne on this machine**: one"
        " broadcast is 1,000 sends at daphne's per-frame cost, and the last socket waits for all the"
        " others. At higher event rates the cost per frame falls (one wake-up sends several frames)."
        " The same app runs unchanged under uvicorn (`--server uvicorn`).",
        "- **NOTIFY and concurrent writers.** NOTIFY takes a database-wide lock from pre-commit to the"
        " end of commit, so writers whose transactions NOTIFY commit one at a time and lose group"
        ' commit: compare `sql_triggers` with 1 and with 8 writers. `REALTIME_NOTIFY = "off"`'
        " (`realtime_append_event_v2`) appends the log row without NOTIFY and the listener polls the"
        " log every 10 ms; its latency cost is in the first table.",
        "- **The baseline's writes** are slow because the article calls"
        " `async_to_sync(channel_layer.group_send)` from `save()`: every call runs a fresh event loop,"
        " and channels-redis opens its Redis connection per event loop; `save()` also loads the"
        " sender for the payload. Our triggers do the publishing inside the INSERT.",
        "- **Baseline failures.** Past its capacity the baseline's channels-redis queues fill"
        ' (capacity 100 per channel): `group_send` then drops frames silently ("frames lost"), and'
        " Redis time-outs inside its consumers close sockets with 1011.",
        "",
    ]
    return "\n".join(lines)


def targets(s: dict[str, Any], c: dict[str, Any]) -> list[str]:
    ratio = s["deliveries_ratio"].median
    p99 = next(
        (r["fixed_p99"].median for r in s["latency"] if r["design"] == "ours" and r["subscribers"] == 1000),
        None,
    )
    w = s["writes"]
    ins1 = w.get("ratio:sql_triggers/1:sql_plain/1")
    ins8 = w.get("ratio:sql_triggers/8:sql_plain/8")
    quiet8 = w.get("ratio:sql_triggers_quiet/8:sql_plain/8")
    # Per 1,000 idle sockets: the 1,000-socket stage (a hundred sockets measure allocator noise).
    kb_rows = [r["kb_per_socket"] for r in s["latency"] if r["design"] == "ours" and r["subscribers"] == 1000]
    kb = kb_rows[0].median if kb_rows else None
    rows = [
        "| target | measured (median) | |",
        "| --- | --- | --- |",
        "| deliveries/s per process >= 3x baseline | %s | %s |"
        % (s["deliveries_ratio"].show("%.1fx"), _met(None if ratio is None else ratio >= 3.0)),
        "| p99 <= 25 ms at 1,000 subscribers, 10 events/s | %s ms | %s |"
        % ("n/a" if p99 is None else "%.1f" % p99, _met(None if p99 is None else p99 <= 25.0)),
        "| inserts with triggers >= 0.7x trigger-less, 1 writer | %s | %s |"
        % (ins1.show("%.2fx") if ins1 else "n/a", _met(None if not ins1 else ins1.median >= 0.7)),
        "| inserts with triggers >= 0.7x trigger-less, 8 writers (default: NOTIFY) | %s | %s |"
        % (ins8.show("%.2fx") if ins8 else "n/a", _met(None if not ins8 else ins8.median >= 0.7)),
        '| the same, 8 writers, `REALTIME_NOTIFY = "off"` | %s | %s |'
        % (quiet8.show("%.2fx") if quiet8 else "n/a", _met(None if not quiet8 else quiet8.median >= 0.7)),
        "| <= 40 KB server RSS per idle socket (1,000 sockets) | %s KB | %s |"
        % ("n/a" if kb is None else "%.1f" % kb, _met(None if kb is None else kb <= 40)),
    ]
    return rows


def _options(c: dict[str, Any]) -> str:
    options = []
    if c["quick"]:
        options.append("--quick")
    if c["server"] != "daphne":
        options.append("--server %s" % c["server"])
    if c["subscribers"] != [100, 1000, 2000]:
        options.append("--subscribers %s" % ",".join(str(n) for n in c["subscribers"]))
    if c["runs"] != (2 if c["quick"] else 3):
        options.append("--runs %d" % c["runs"])
    return "".join(" " + o for o in options)


def _db_name(url: str) -> str:
    return "machine Postgres, database `%s`" % url.rsplit("/", 1)[-1]


def plot(result: dict[str, Any], s: dict[str, Any], path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    fig, ax = pyplot.subplots(figsize=(7, 4.5))
    colors = {"ours": "tab:blue", "baseline": "tab:red"}
    for design in ("ours", "baseline"):
        rows = [r for r in s["latency"] if r["design"] == design]
        xs = [r["subscribers"] for r in rows]
        for key, style in (("fixed_p50", "--"), ("fixed_p99", "-")):
            ys = [r[key].median for r in rows]
            lo = [min(r[key].values) if r[key].values else None for r in rows]
            hi = [max(r[key].values) if r[key].values else None for r in rows]
            pts = [(x, y, a, b) for x, y, a, b in zip(xs, ys, lo, hi, strict=True) if y is not None]
            if not pts:
                continue
            ax.errorbar(
                [p[0] for p in pts],
                [p[1] for p in pts],
                yerr=[[p[1] - p[2] for p in pts], [p[3] - p[1] for p in pts]],
                linestyle=style,
                marker="o",
                capsize=3,
                color=colors[design],
                label="%s %s" % (design, key.split("_")[1]),
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("subscribers in one room, one server process")
    ax.set_ylabel("commit-to-frame latency, ms")
    ax.set_title(
        "Latency at %g events/s (median of %d runs, bars: min-max)"
        % (result["config"]["fixed_rate"], result["config"]["runs"])
    )
    ax.axhline(25, color="grey", linewidth=0.8, linestyle=":")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot.close(fig)

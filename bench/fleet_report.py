"""docs/benchmarks_fleet.md from the fleet benchmark's results, with each goal marked met or not."""

from __future__ import annotations

import pathlib
from typing import Any

PER_EVENT_GOAL_US = 20.0
RATE_SPREAD_GOAL = 0.10


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else "%.*f" % (digits, value)


def _goals(results: list[dict[str, Any]], writers: list[int]) -> list[str]:
    waker = [r for r in results if r["mode"] == "waker"]
    if not waker:
        return ["- no `waker` run: goals not assessed"]
    lines = []
    fleets = [r for r in waker if r["listeners"] > 0] or waker
    small, big = min(fleets, key=lambda r: r["listeners"]), max(fleets, key=lambda r: r["listeners"])
    grows = big["idle_queries_per_s"] - small["idle_queries_per_s"]
    # The waker's ticks are per database (inside Postgres); per listener there is the safety poll.
    safety = (big["listeners"] - small["listeners"]) / 5.0
    lines.append(
        "- Postgres work while idle does not grow with L: **%s**. %.0f queries/s at L = %d, %.0f at L = %d"
        " sent by the listeners (the waker's ticks run inside Postgres, one per database, and show in"
        " the CPU figure; each listener adds only its safety poll, 1 per"
        " `REALTIME_POLL_INTERVAL` = 5 s, %.1f/s for this step in L); Postgres CPU %.1f vs %.1f ms/s."
        % (
            "met" if grows <= safety + 1.0 else "not met",
            small["idle_queries_per_s"],
            small["listeners"],
            big["idle_queries_per_s"],
            big["listeners"],
            safety,
            small["idle_pg_cpu_ms_per_s"],
            big["idle_pg_cpu_ms_per_s"],
        )
    )
    worst = max(r["w%d" % w]["listener_us_per_event_per_listener"] for r in fleets for w in writers)
    lines.append(
        "- Postgres CPU per event per listener <= %.0f µs: **%s** (worst over L and W: %.1f µs)."
        % (PER_EVENT_GOAL_US, "met" if worst <= PER_EVENT_GOAL_US else "not met", worst)
    )
    by_l = {r["listeners"]: r for r in waker}
    if 1 in by_l and 32 in by_l:
        for w in writers:
            one, many = by_l[1]["w%d" % w]["capture_per_s"], by_l[32]["w%d" % w]["capture_per_s"]
            change = many / one - 1.0
            lines.append(
                "- insert rate within 10%% from L = 1 to L = 32, %d writer(s): **%s**"
                " (%.0f → %.0f/s, %+.0f%%)."
                % (w, "met" if abs(change) <= RATE_SPREAD_GOAL else "not met", one, many, change * 100)
            )
    return lines


def write(result: dict[str, Any], path: pathlib.Path) -> None:
    args, machine, results = result["args"], result["machine"], result["results"]
    writers = args["writers"]
    out = [
        "# Fleet benchmark: many server processes on one database",
        "",
        "`python -m bench.fleet%s` (source: `bench/fleet.py`). Load average at the end:"
        " %s. Every listener, writer and Postgres itself share the machine's %s cores, so"
        " listeners' own Python work competes with the writers it measures: the insert rates"
        " against L are this machine's, the Postgres CPU per event per listener carries over."
        % (" --quick" if args["quick"] else "", machine["load_at_end"], machine["cores"]),
        "",
        "%s, %s cores; Postgres %s on 127.0.0.1:5432 (database created and dropped by the script);"
        " %s; took %.0f s."
        % (machine["cpu"], machine["cores"], machine["postgres"], machine["date"], result["seconds"]),
        "",
        "Modes: `waker` (default: this project's connections write without NOTIFY, one elected"
        " waker per database NOTIFYs once per 5 ms tick in which an event became visible, at most"
        " every 20 ms under steady traffic) and"
        " `always` (every writing transaction NOTIFYs: the previous default). Each listener is a"
        " real `Listener` on its own connection, as one server process has; %d host processes"
        " carry them." % 2,
        "",
        "## Goals (mode `waker`)",
        "",
        *_goals(results, writers),
        "",
        "## Idle and latency",
        "",
        "Idle: queries/s sent by all listeners (counted client-side; the waker's ticks run inside"
        " Postgres, in one CALL), and the CPU of their and the waker's Postgres backends"
        " (`/proc/<pid>/stat`). Latency: %d single-row inserts at %.0f/s,"
        " from COMMIT returning to the listener's dispatch, at every listener."
        % (args["paced"], args["rate"]),
        "",
        "| mode | L | idle queries/s | idle Postgres CPU ms/s | p50 ms | p99 ms | max ms | lost |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lat = r["latency"]
        out.append(
            "| %s | %d | %.1f | %.1f | %s | %s | %s | %d |"
            % (
                r["mode"],
                r["listeners"],
                r["idle_queries_per_s"],
                r["idle_pg_cpu_ms_per_s"],
                _f(lat["p50"]),
                _f(lat["p99"]),
                _f(lat["max"]),
                lat["lost"],
            )
        )
    out += [
        "",
        "## Writes",
        "",
        "Inserts/s flat out by W writers into `chat_chatmessage` (capture: trigger, log row, and"
        " NOTIFY in mode `always`) and into the same table without triggers (plain), in alternating"
        " %.0f s slices, %d rounds. Postgres CPU per 1,000 events: all backends of the database"
        " (writers, listeners, waker) over the capture slices, until every listener had every"
        " event; per event per listener: the listeners' backends only." % (args["slice"], args["rounds"]),
        "",
        "| mode | L | W | plain/s | capture/s | ratio | Postgres CPU ms / 1,000 events | of which writers |"
        " listener µs / event / listener | waker µs / event | listeners' Python µs / event / listener |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        for w in writers:
            x = r["w%d" % w]
            out.append(
                "| %s | %d | %d | %.0f | %.0f | %.2fx | %.1f | %.1f | %.1f | %.1f | %s |"
                % (
                    r["mode"],
                    r["listeners"],
                    w,
                    x["plain_per_s"],
                    x["capture_per_s"],
                    x["ratio"],
                    x["pg_cpu_ms_per_1000"],
                    x["writer_cpu_ms_per_1000"],
                    x["listener_us_per_event_per_listener"],
                    x["waker_us_per_event"],
                    _f(x.get("python_us_per_event_per_listener")),
                )
            )
    out += ["", *NOTES]
    path.write_text("\n".join(out) + "\n")


NOTES = [
    "## Reading it",
    "",
    "- L = 0 runs the waker and no listener: the capture ratio there is the writers' own cost"
    " (trigger, log row, its index) with nothing else competing for the cores.",
    "- Every listener's Python work (reading rows into events; an event's signed cursor is made"
    " only when a socket takes it, and these listeners serve none) runs on"
    " the same cores as Postgres and the writers here, so on this machine the insert rate falls"
    " with L for reasons a fleet of separate hosts does not have; the last column shows how much."
    " The Postgres-side cost per event per listener is the figure that carries over.",
    "- Mode `always` is the comparison: every commit NOTIFYs, so writers queue on the commit-time"
    " lock, and every listener steps once per commit instead of once per wake-up.",
]

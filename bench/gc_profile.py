"""Where a broadcast's tail comes from: the server's garbage collections and what sockets keep alive.

``python -m bench.gc_profile [--subscribers 1000,5000] [--server daphne|uvicorn]``
(``BENCH_TRACEMALLOC=8`` adds the lines that allocate what a socket holds): one
server process (the project's settings plus a hook, ``bench.gc_settings``), real sockets
on one room. It prints the objects the collector tracks per open socket by type, what survives
per event, how long a full collection takes, and the collections per generation (count, total
and longest pause, from ``/metrics``) during a light broadcast.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib
import signal
import tempfile
import time
import tracemalloc
from typing import Any

from bench import drivers, fanout, gcmetrics, rig, servers

WARM = 10


def dump(server: servers.Server, path: pathlib.Path) -> dict[str, Any]:
    """Ask the server for its live objects by type (it writes them to ``path``)."""
    path.unlink(missing_ok=True)
    os.kill(server.process.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            time.sleep(0.2)
            result: dict[str, Any] = json.loads(path.read_text())
            trace = pathlib.Path(str(path) + ".trace")
            if trace.exists():
                result["trace"] = tracemalloc.Snapshot.load(str(trace))
            return result
        time.sleep(0.1)
    raise RuntimeError("server did not dump its objects")


def allocations(before: dict[str, Any], after: dict[str, Any], units: int, top: int) -> None:
    """The lines whose allocations grew most between two dumps, in bytes per unit."""
    if "trace" not in before:
        return
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    group = "traceback" if len(after["trace"].traces[0].traceback) > 1 else "lineno"
    diff = after["trace"].filter_traces(ignore).compare_to(before["trace"].filter_traces(ignore), group)
    total = sum(stat.size_diff for stat in diff)
    by_package: collections.Counter[str] = collections.Counter()
    for stat in diff:
        path = stat.traceback[-1].filename
        parts = ["", *path.split("site-packages/", 1)[-1].split("/")]
        by_package[parts[1] if "site-packages/" in path else "/".join(parts[-2:])] += stat.size_diff
    print(
        "  by package (innermost frame): "
        + ", ".join("%s %.1f KB" % (name, size / units / 1024) for name, size in by_package.most_common(14))
    )
    print(
        "  allocated and still held: %.1f KB per socket; by where (innermost frame last):"
        % (total / units / 1024)
    )
    for stat in diff[:top]:
        print("    %7.0f B  %5.1f blocks" % (stat.size_diff / units, stat.count_diff / units))
        for line in stat.traceback.format()[-2 * min(4, len(stat.traceback)) :: 2]:
            print("        " + line.strip())


def per_unit(before: dict[str, Any], after: dict[str, Any], units: int, top: int) -> list[tuple[str, float]]:
    diff = collections.Counter(after["types"])
    diff.subtract(before["types"])
    return [(name, n / units) for name, n in diff.most_common(top)]


def profile(subscribers: int, config: rig.Config, fixtures: dict[str, Any], events: int, rate: float) -> None:
    path = pathlib.Path(tempfile.gettempdir()) / ("gc-dump-%d.json" % os.getpid())
    os.environ["BENCH_GC_DUMP"] = str(path)
    room = "/ws/room/%d" % fixtures["room_id"]
    with servers.serving("ours_gc", config) as server:
        cookies = fixtures["cookies"][:subscribers]
        warm = drivers.Clients(server.port, room, cookies[:WARM], 1)
        time.sleep(0.5)
        idle = dump(server, path)
        rss_before = server.rss()
        rest = drivers.Clients(server.port, room, cookies[WARM:], config.client_procs)
        # Tracing slows the server down: let every handshake and its clean-up finish first.
        time.sleep(8.0 if os.environ.get("BENCH_TRACEMALLOC") else 1.0)
        rss_after = server.rss()
        opened = dump(server, path)
        print(
            "n=%d: tracked objects %d -> %d (%.1f per socket), RSS %.1f KB per socket"
            % (
                subscribers,
                idle["total"],
                opened["total"],
                (opened["total"] - idle["total"]) / rest.opened,
                (rss_after - rss_before) / rest.opened / 1024,
            )
        )
        print("  full collection: %.1f ms with %d sockets" % (opened["full_ms"], subscribers))
        for name, n in per_unit(idle, opened, rest.opened, 25):
            print("    %-40s %6.2f per socket" % (name, n))
        allocations(idle, opened, rest.opened, 30)
        both = drivers.Both(warm, rest)
        writer = drivers.Writer("ours", config, fixtures)
        try:
            seq = drivers.Sequence()
            fanout.fan_out_round(server, both, writer, seq, both.opened, 5, 5.0)
            before_gc = gcmetrics.read(server.port)
            result = fanout.fan_out_round(server, both, writer, seq, both.opened, events, rate)
            after_gc = gcmetrics.read(server.port)
            after = dump(server, path)
        finally:
            writer.stop()
            both.stop()
    print(
        "  %d events at %.1f/s: p50 %.1f p99 %.1f max %.1f ms"
        % (events, rate, result["p50"], result["p99"], result["max"])
    )
    print("  survivors per event: %.1f objects" % ((after["total"] - opened["total"]) / events))
    for name, n in per_unit(opened, after, events, 8):
        print("    %-40s %6.2f per event" % (name, n))
    print("  collections during the round: %s" % gcmetrics.describe(gcmetrics.delta(before_gc, after_gc)))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gc_profile", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", rig.DEFAULT_URL))
    parser.add_argument("--subscribers", default="1000")
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--rate", type=float, default=2.0)
    args = parser.parse_args()
    most = max(int(n) for n in args.subscribers.split(","))
    config, fixtures = rig.single_server(args.database_url, args.server, args.subscribers, 1, most + WARM)
    for subscribers in config.subscribers:
        profile(subscribers, config, fixtures, args.events, args.rate)


if __name__ == "__main__":
    main()

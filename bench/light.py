"""Light load, side by side: 1,000 subscribers on one room, 2 events/s, both designs in one run.

``python -m bench.light [--seconds 30] [--runs 3] [--server daphne|uvicorn]`` prints,
per design and run, commit-to-frame p50/p99/max and the server's garbage collections during the
round (ours only: the baseline has no ``/metrics``). ``make bench`` runs the same stage.
``--rss SECONDS`` instead holds 1,000 sockets at 10 events/s and samples the server's RSS.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

from bench import drivers, fanout, figures, gcmetrics, rig, servers

SUBSCRIBERS = 1000
RATE = 2.0


def stage(
    design: str, config: rig.Config, fixtures: dict[str, Any], seconds: float, rate: float = RATE
) -> dict[str, Any]:
    """One server, ``fixtures["subscribers"]`` sockets (default 1,000), ``rate`` events/s for ``seconds``."""
    path = "/ws/room/%d" % fixtures["room_id"]
    with servers.serving(design, config) as server:
        clients = _connect(server, path, fixtures)
        writer = drivers.Writer(design, config, fixtures)
        try:
            seq = drivers.Sequence()
            fanout.fan_out_round(server, clients, writer, seq, clients.opened, 5, 5.0)  # warm-up
            before = gcmetrics.read(server.port) if design != "baseline" else None
            result = fanout.fan_out_round(
                server, clients, writer, seq, clients.opened, int(rate * seconds), rate
            )
            result["gc"] = gcmetrics.delta(before, gcmetrics.read(server.port) if before else None)
            result["rss_mb"] = server.rss() / 2**20
        finally:
            writer.stop()
            clients.stop()
    print(
        "  light %-8s n=%d %.0f events at %.1f/s: p50 %s p99 %s max %s ms lost %d; gc %s"
        % (
            design,
            clients.opened,
            result["events"],
            result["rate"],
            figures.ms(result["p50"]),
            figures.ms(result["p99"]),
            figures.ms(result["max"]),
            result["lost"],
            gcmetrics.describe(result["gc"]),
        ),
        flush=True,
    )
    return result


def _connect(server: servers.Server, path: str, fixtures: dict[str, Any]) -> drivers.Clients:
    """A few sockets first (they start the listener), then the rest from two processes."""
    cookies = fixtures["cookies"][: fixtures.get("subscribers", SUBSCRIBERS)]
    warm = drivers.Clients(server.port, path, cookies[: rig.WARM_SOCKETS], 1)
    time.sleep(0.5)
    if len(cookies) <= rig.WARM_SOCKETS:
        return warm
    return drivers.Both(warm, drivers.Clients(server.port, path, cookies[rig.WARM_SOCKETS :], 2))


def rss_watch(config: rig.Config, fixtures: dict[str, Any], seconds: float, rate: float) -> None:
    """Hold the sockets under steady traffic and print the server's RSS every 10 s."""
    path = "/ws/room/%d" % fixtures["room_id"]
    with servers.serving("ours", config) as server:
        clients = _connect(server, path, fixtures)
        writer = drivers.Writer("ours", config, fixtures)
        try:
            seq = drivers.Sequence()
            samples = []
            started = time.monotonic()
            while time.monotonic() - started < seconds:
                count = int(rate * 10)
                result = fanout.fan_out_round(server, clients, writer, seq, clients.opened, count, rate)
                samples.append(server.rss() / 2**20)
                print(
                    "  t=%4.0fs RSS %.1f MB p99 %s ms lost %d"
                    % (time.monotonic() - started, samples[-1], figures.ms(result["p99"]), result["lost"]),
                    flush=True,
                )
        finally:
            writer.stop()
            clients.stop()
    print("  RSS first %.1f MB, last %.1f MB, max %.1f MB" % (samples[0], samples[-1], max(samples)))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.light", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", rig.DEFAULT_URL))
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--designs", default="ours,baseline")
    parser.add_argument("--rate", type=float, default=RATE)
    parser.add_argument("--rss", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--subscribers", type=int, default=SUBSCRIBERS)
    args = parser.parse_args()
    config, fixtures = rig.single_server(
        args.database_url, args.server, str(args.subscribers), args.runs, args.subscribers + 10
    )
    fixtures["subscribers"] = args.subscribers
    if args.rss:
        rss_watch(config, fixtures, args.rss, 10.0)
        return
    designs = args.designs.split(",")
    results: dict[str, list[dict[str, Any]]] = {d: [] for d in designs}
    for number in range(args.runs):
        for design in designs if number % 2 == 0 else designs[::-1]:
            results[design].append(stage(design, config, fixtures, args.seconds, args.rate))
    for design, rounds in results.items():
        print(
            "%s (%s): p50 %.1f p99 %.1f max %.1f ms (medians of %d)"
            % (
                design,
                args.server,
                statistics.median(r["p50"] for r in rounds),
                statistics.median(r["p99"] for r in rounds),
                statistics.median(r["max"] for r in rounds),
                len(rounds),
            )
        )


if __name__ == "__main__":
    main()

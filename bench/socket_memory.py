"""What an idle socket costs the server: RSS per socket, ours against a bare ASGI app.

``python -m bench.socket_memory [--sockets 1000] [--runs 3] [--server daphne|uvicorn]``:
for each design, one server process, 10 warm-up sockets, then ``--sockets`` more on one room;
the server's RSS growth while they open, per socket, after they settle. ``bare``
(``bench/bare_asgi.py``) accepts and waits: the server's own cost of a connection, which
no application can go below. The difference is what our stack keeps per socket (scope, session,
user, consumer, its tasks and buffers). Medians over ``--runs``, each design in turn per run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

from bench import drivers, rig, servers

WARM = 10
SETTLE_S = 2.0


def measure(design: str, sockets: int, config: rig.Config, fixtures: dict[str, Any]) -> float:
    """KB of server RSS per idle socket, once ``sockets`` sockets have opened and settled.

    ``ours-presence-off`` serves ours with presence off: with it on, every user's first socket
    sends a join to every socket of the room, and the frames in flight while 1,000 sockets open
    (a million of them) are counted too, though no socket keeps them.
    """
    path = "/ws/room/%d" % fixtures["room_id"]
    cookies = fixtures["cookies"][: sockets + WARM]
    os.environ["REALTIME_PRESENCE"] = "0" if design == "ours-presence-off" else "1"
    with servers.serving(design.split("-")[0], config) as server:
        warm = drivers.Clients(server.port, path, cookies[:WARM], 1)
        time.sleep(SETTLE_S)
        before = server.rss()
        rest = drivers.Clients(server.port, path, cookies[WARM:], config.client_procs)
        time.sleep(SETTLE_S)
        after = server.rss()
        opened = rest.opened
        rest.ask("stop")
        warm.ask("stop")
    if opened != sockets:
        raise RuntimeError("%s: %d of %d sockets opened" % (design, opened, sockets))
    return (after - before) / opened / 1024


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.socket_memory", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", rig.DEFAULT_URL))
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--designs", default="bare,ours,ours-presence-off")
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    args = parser.parse_args()
    config, fixtures = rig.single_server(
        args.database_url, args.server, str(args.sockets), args.runs, args.sockets + WARM
    )
    designs = args.designs.split(",")
    found: dict[str, list[float]] = {design: [] for design in designs}
    for _ in range(args.runs):
        for design in designs:
            found[design].append(measure(design, args.sockets, config, fixtures))
    print("%s, %d idle sockets, %d runs: server RSS per socket" % (args.server, args.sockets, args.runs))
    for design, values in found.items():
        print(
            "  %-10s %5.1f KB (%s)"
            % (design, statistics.median(values), ", ".join("%.1f" % v for v in values))
        )


if __name__ == "__main__":
    main()

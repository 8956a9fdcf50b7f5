"""Saturated broadcast, presence on: what presence costs a server that is already flat out.

1,000 sockets on one room, each of a different member (so presence tracks 1,000 users), one
daphne process, a writer process committing 50 messages/s. Three servers, interleaved in one
run: ``before``, an earlier checkout of the project (``--before-tree``, the commit before
presence, migrated into its own database); ``off``, today's code with ``REALTIME_PRESENCE=0``;
``on``, today's code as shipped (presence on). Per run: deliveries/s achieved, frames lost,
sockets closed, commit-to-frame p50/p99, server CPU per frame, presence frames per socket while
the crowd opened and during the round, and the load average.

``python -m bench.saturation [--runs 3] [--seconds 10] [--rate 50] [--before-tree PATH]``
Bounded: 1,000 sockets, ``rate x seconds`` events per round, 60 s of draining at most.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time
from typing import Any

import psycopg

from bench import database, drivers, figures, light, rig, servers

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_saturation"
BEFORE_URL = "postgres://postgres@127.0.0.1:5432/bench_saturation_before"
SUBSCRIBERS = 1000
DESIGNS = ("before", "off", "on")
DRAIN = 60.0  # seconds after the last commit that frames may still arrive
STALL = 3.0  # seconds without a frame arriving, the server idle, that end a round early
IDLE_CPU = 0.05  # share of a core below which the server counts as idle


def before_fixtures(tree: pathlib.Path, url: str, users: int) -> dict[str, Any]:
    """The earlier checkout's database migrated by its own code, with the same fixtures: its
    modules first on the path, this checkout's ``bench`` package after them."""
    database.create_database(url)
    env = dict(os.environ, DATABASE_URL=url, DJANGO_SETTINGS_MODULE="project.settings")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, cwd=tree, check=True
    )
    script = (
        "import json, sys; sys.path.append(%r); from bench import database; "
        "print(json.dumps(database.prepare(%r, %d)))" % (str(rig.ROOT), url, users)
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tree, check=True, capture_output=True, text=True
    ).stdout
    fixtures: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return fixtures


def server_for(design: str, config: rig.Config, tree: pathlib.Path, before_url: str) -> servers.Server:
    if design == "before":
        return servers.Server("ours", config, root=tree, extra_env={"DATABASE_URL": before_url})
    return servers.Server("ours", config, extra_env={"REALTIME_PRESENCE": "1" if design == "on" else "0"})


def forget_presence(url: str) -> None:
    """Start each round with nobody online. Daphne has no lifespan, so a stopped server's rows
    stay until the next process reaps them (``REALTIME_PRESENCE_TIMEOUT``, 30 s): a server started
    sooner would see its crowd as already online and send no presence frame at all."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM listener_presence")
        conn.execute("DELETE FROM listener_presenceprocess")


def presence_frames(clients: drivers.Clients) -> tuple[int, int]:
    """Presence frames received so far: over all sockets, and by the socket that got the most."""
    answers = clients.ask("frames")
    return sum(a[1] for a in answers), max(a[2] for a in answers)


def saturate(
    design: str, config: rig.Config, fixtures: dict[str, Any], url: str, args: argparse.Namespace
) -> dict[str, Any]:
    """One server, the crowd, a warm-up, then ``rate x seconds`` events; what the sockets saw."""
    load = os.getloadavg()
    if design != "before":
        forget_presence(url)
    server = server_for(design, config, args.before_tree, args.before_url)
    try:
        clients = light._connect(server, "/ws/room/%d" % fixtures["room_id"], fixtures)
        writer = drivers.Writer("ours", _at(config, url), fixtures)
        try:
            seq = drivers.Sequence()
            broadcast_round(server, clients, writer, seq, 5, 5.0)  # warm-up; the crowd's presence settles
            time.sleep(2.0)
            presence_open, most_open = presence_frames(clients)
            cpu = server.cpu()
            result = broadcast_round(server, clients, writer, seq, int(args.rate * args.seconds), args.rate)
            result["cpu_us_per_frame"] = (server.cpu() - cpu) * 1e6 / max(1, result["received"])
            presence_all, most_all = presence_frames(clients)
        finally:
            writer.stop()
            clients.stop()
    finally:
        server.stop()
    result.update(
        design=design,
        opened=clients.opened,
        presence_open=presence_open / max(1, clients.opened),
        presence_round=(presence_all - presence_open) / max(1, clients.opened),
        presence_most=most_open,
        presence_most_round=most_all - most_open,
        load=load,
    )
    print(
        "  %-6s n=%d (%d refused after opening) %d events at %.1f/s: %.0f deliveries/s, lost %d%s,"
        " closed %d, p50 %s p99 %s ms, %s us/frame, presence frames/socket %.2f (most %d) opening"
        " + %.2f in the round; load %.2f %.2f %.2f"
        % (
            design,
            clients.opened,
            clients.opened - result["live"],
            result["events"],
            result["rate"],
            result["deliveries_per_s"],
            result["lost"],
            " (still sending at %.0f s: cut)" % DRAIN if result["cut"] else "",
            result["closed"],
            figures.ms(result["p50"]),
            figures.ms(result["p99"]),
            figures.ms(result["cpu_us_per_frame"]),
            result["presence_open"],
            result["presence_most"],
            result["presence_round"],
            *load,
        ),
        flush=True,
    )
    return result


def broadcast_round(
    server: servers.Server,
    clients: drivers.Clients,
    writer: drivers.Writer,
    seq: drivers.Sequence,
    count: int,
    rate: float,
) -> dict[str, Any]:
    """Write ``count`` messages at ``rate``, wait until every socket has them, or the server has
    sat idle for ``STALL`` s with none arriving, or ``DRAIN`` s have passed. Deliveries/s is the
    frames received over the time from the first commit to the last frame: what the sockets got.

    Not "no frame for a few seconds": a server far behind sends in bursts (a listener step hands
    every socket all the events it read before the loop writes any of them out), seconds apart."""
    # The client counts sockets that never opened as closed; those closed after opening (a
    # handshake refused with 4503 under the crowd: accepted, then closed) get nothing either.
    _, closed_before = clients.received()
    live = clients.opened - (closed_before - clients.failed)
    first = seq.take(count)
    committed = writer.write(first, count, rate)
    expected = count * live
    last_seen, last_progress, last_cpu = -1, time.monotonic(), server.cpu()
    give_up = time.monotonic() + DRAIN
    cut = True
    while time.monotonic() < give_up:
        seen, closed = clients.received()
        if seen >= expected or closed - closed_before >= live:
            cut = False
            break
        cpu = server.cpu()
        if seen != last_seen or cpu - last_cpu > IDLE_CPU * STALL:
            last_seen, last_progress, last_cpu = seen, time.monotonic(), cpu
        elif time.monotonic() - last_progress > STALL:
            cut = False  # nothing left to send: what is missing is lost
            break
        time.sleep(0.05)
    seqs, times, closes = clients.dump()
    latencies, last = [], committed[0]
    for s, t in zip(seqs, times, strict=True):
        if 0 <= s - first < count:
            latencies.append((t - committed[s - first]) * 1000.0)
            last = max(last, t)
    latencies.sort()
    span = committed[-1] - committed[0]
    result: dict[str, Any] = {
        "events": count,
        "rate": (count - 1) / span if span > 0 else rate,
        "received": len(latencies),
        "lost": expected - len(latencies),
        "live": live,
        "closed": sum(closes.values()) - closed_before,
        "cut": cut,
        "deliveries_per_s": len(latencies) / (last - committed[0]) if last > committed[0] else 0.0,
    }
    result.update(figures.percentiles(latencies))
    return result


def _at(config: rig.Config, url: str) -> rig.Config:
    """The config with another database (the writer of the earlier checkout's server)."""
    other = rig.Config.__new__(rig.Config)
    other.__dict__.update(config.__dict__, url=url)
    return other


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.saturation", description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--before-url", default=BEFORE_URL)
    parser.add_argument("--before-tree", type=pathlib.Path, default=None)
    parser.add_argument("--designs", default=",".join(DESIGNS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    designs = args.designs.split(",")
    if "before" in designs and args.before_tree is None:
        parser.error("the before design needs --before-tree (a checkout of the commit before presence)")
    config, fixtures = rig.single_server(
        args.database_url, "daphne", str(SUBSCRIBERS), args.runs, SUBSCRIBERS
    )
    fixtures["subscribers"] = SUBSCRIBERS
    urls = {d: args.database_url for d in designs}
    every = {d: fixtures for d in designs}
    if "before" in designs:
        urls["before"] = args.before_url
        every["before"] = dict(
            before_fixtures(args.before_tree, args.before_url, SUBSCRIBERS), subscribers=SUBSCRIBERS
        )
    results: dict[str, list[dict[str, Any]]] = {d: [] for d in designs}
    for number in range(args.runs):
        for design in designs if number % 2 == 0 else designs[::-1]:
            results[design].append(saturate(design, config, every[design], urls[design], args))
    print("medians of %d runs (min-max):" % args.runs)
    for design, rounds in results.items():
        print(
            "%-6s opened %s (refused after opening %s), deliveries/s %s, lost %s, closed %s,"
            " p50 %s ms, p99 %s ms, %s us/frame,"
            " presence frames/socket %s (most %s) opening, %s in the round"
            % (
                design,
                figures.Figure([r["opened"] for r in rounds]).show("%.0f"),
                figures.Figure([r["opened"] - r["live"] for r in rounds]).show("%.0f"),
                figures.Figure([r["deliveries_per_s"] for r in rounds]).show("%.0f"),
                figures.Figure([r["lost"] for r in rounds]).show("%.0f"),
                figures.Figure([r["closed"] for r in rounds]).show("%.0f"),
                figures.Figure([r["p50"] for r in rounds]).show(),
                figures.Figure([r["p99"] for r in rounds]).show(),
                figures.Figure([r["cpu_us_per_frame"] for r in rounds]).show("%.0f"),
                figures.Figure([r["presence_open"] for r in rounds]).show("%.2f"),
                figures.Figure([r["presence_most"] for r in rounds]).show("%.0f"),
                figures.Figure([r["presence_round"] for r in rounds]).show("%.2f"),
            )
        )
    print("load average at the end: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()

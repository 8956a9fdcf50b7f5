"""Handshakes side by side: how fast sockets open, ours against the article's design, in one run.

``python -m bench.handshake [--server daphne|uvicorn] [--crowds 300,1000,5000] [--runs 1]
[--designs ours,baseline,bare] [--backlogs 50,4096]`` (``make bench-handshake``). Real components
only: one server process per design (daphne or uvicorn, default settings, listening with the
backlog `make run` and `make serve` pass, or each of ``--backlogs`` in turn), Postgres, Redis for
the baseline, clients in separate processes. ``bare`` (bench/bare_asgi.py) only accepts: the
server's own ceiling. ``eager`` (bench/eager_asgi.py) is ours with ``SocketAuth``'s default, the
user read before the access check, where the project reads it with the access (``lazy_user``).

Per design it prints: ms per handshake opened one after another (client-observed, median), then
for each crowd opened at once (every member a different user, one room): how many opened,
handshakes/s from the first connect to the last open, the server's CPU ms per handshake, and how
many of the open sockets got the next event written after the crowd opened.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import statistics
import time
from collections.abc import Iterator
from typing import Any

from bench import drivers, figures, handshake_crowd, rig, servers

SEQUENTIAL = 200
CLIENT_PROCS = 4
EVENT_TIMEOUT = 30.0


def _next_event(crowd: handshake_crowd.Crowd, writer: drivers.Writer, seq: int) -> int:
    """Write message ``seq`` and wait (bounded) until every open socket has it or none is coming."""
    writer.write(seq, 1, 1.0)
    deadline = time.monotonic() + EVENT_TIMEOUT
    got, closes, repeated = 0, dict[int, int](), 0
    while time.monotonic() < deadline:
        got, closes, repeated = crowd.got(seq)
        if got + sum(closes.values()) >= crowd.opened:
            break
        time.sleep(0.2)
    if closes:
        print("  closed before the event: %s" % dict(sorted(closes.items())), flush=True)
    if repeated:
        print("  %d frames repeated a sequence number their socket had seen" % repeated, flush=True)
    return got


# ``--before DIR``: the design "before" is ours served from DIR, an exported older tree of this
# project (``git archive <commit> | tar -x -C DIR``), so a change is measured beside its parent;
# "<design>:before" is that design served from DIR ("eager:before").
_before_tree: pathlib.Path | None = None


def _base(design: str) -> str:
    return "ours" if design == "before" else design.removesuffix(":before")


@contextlib.contextmanager
def _serving(design: str, config: rig.Config, backlog: int | None) -> Iterator[servers.Server]:
    root = rig.ROOT
    if design == "before" or design.endswith(":before"):
        if _before_tree is None:
            raise SystemExit("the design %r needs --before DIR" % design)
        root = _before_tree  # the server's working directory, so its `project` is imported
    server = servers.Server(_base(design), config, root=root, backlog=backlog)
    try:
        yield server
    finally:
        server.stop()


def stage(
    design: str, config: rig.Config, fixtures: dict[str, Any], crowds: list[int], backlog: int | None = None
) -> dict[str, Any]:
    """One fresh server per crowd (a crowd's sockets close before the next): every figure for one
    design, its server listening with ``backlog`` (None: the project's own)."""
    label = design if backlog is None else "%s@%d" % (design, backlog)
    path = "/ws/room/%d" % fixtures["room_id"]
    cookies = fixtures["cookies"]
    out: dict[str, Any] = {"design": design, "crowds": {}}
    seq = 1
    with _serving(design, config, backlog) as server:
        warm = handshake_crowd.Crowd(server.port, path, cookies[:1], 1)
        try:
            cpu = server.cpu()
            sequential = handshake_crowd.Crowd(
                server.port, path, cookies[1 : 1 + SEQUENTIAL], 1, "sequential"
            )
            out["sequential_cpu_ms"] = (server.cpu() - cpu) * 1000.0 / SEQUENTIAL
            out["sequential_ms"] = statistics.median(sequential.took) * 1000.0 if sequential.took else None
            sequential.stop()
        finally:
            warm.stop()
    print(
        "  %-8s one after another: %s ms per handshake (median of %d), server CPU %.2f ms each"
        % (label, figures.ms(out["sequential_ms"]), SEQUENTIAL, out["sequential_cpu_ms"]),
        flush=True,
    )
    for size in crowds:
        with _serving(design, config, backlog) as server:
            warm = handshake_crowd.Crowd(server.port, path, cookies[:1], 1)
            # The bare app sends no events: there is no next event to wait for.
            writer = None if design == "bare" else drivers.Writer(_base(design), config, fixtures)
            try:
                cpu = server.cpu()
                crowd = handshake_crowd.Crowd(server.port, path, cookies[1 : 1 + size], CLIENT_PROCS)
                cpu = server.cpu() - cpu
                span = max(crowd.last - crowd.first, 1e-6)
                seq += 1
                got = _next_event(crowd, writer, seq) if crowd.opened and writer else None
                result = {
                    "opened": crowd.opened,
                    "failed": crowd.failed,
                    "per_s": crowd.opened / span,
                    # Per handshake tried: a crowd's refused or timed-out handshakes cost CPU too.
                    "cpu_ms": cpu * 1000.0 / size,
                    "p50_ms": statistics.median(crowd.took) * 1000.0 if crowd.took else None,
                    "got_event": got,
                }
                crowd.stop()
            finally:
                if writer:
                    writer.stop()
                warm.stop()
        out["crowds"][size] = result
        print(
            "  %-8s %5d at once: opened %d failed %d, %.0f handshakes/s, server CPU %.2f ms/handshake,"
            " p50 open %s ms, next event reached %s"
            % (
                label,
                size,
                result["opened"],
                result["failed"],
                result["per_s"],
                result["cpu_ms"],
                figures.ms(result["p50_ms"]),
                "-" if got is None else got,
            ),
            flush=True,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.handshake", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", rig.DEFAULT_URL))
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument("--crowds", default="300,1000,5000")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--designs", default="ours,baseline")
    parser.add_argument(
        "--before",
        type=pathlib.Path,
        help="an older tree of this project (designs 'before', '<design>:before')",
    )
    parser.add_argument(
        "--backlogs",
        default="",
        help="listen backlogs to run each design with, side by side (default: the project's own)",
    )
    args = parser.parse_args()
    global _before_tree
    _before_tree = args.before
    crowds = [int(n) for n in args.crowds.split(",")]
    config, fixtures = rig.single_server(
        args.database_url, args.server, args.crowds, args.runs, max([*crowds, SEQUENTIAL]) + 1
    )
    backlogs: list[int | None] = [int(n) for n in args.backlogs.split(",") if n] or [None]
    designs = [(d, b) for d in args.designs.split(",") for b in backlogs]
    results: dict[tuple[str, int | None], list[dict[str, Any]]] = {d: [] for d in designs}
    for number in range(args.runs):
        for design, backlog in designs if number % 2 == 0 else designs[::-1]:
            results[design, backlog].append(stage(design, config, fixtures, crowds, backlog))
    for (design, backlog), rounds in results.items():
        backlog_name = servers.listen_backlog(args.server, backlog)[-1:] or ["default"]
        line = ["%s, backlog %s (%s, medians of %d):" % (design, backlog_name[0], args.server, len(rounds))]
        line.append(
            "sequential %s ms, %.2f ms CPU"
            % (
                figures.ms(_median([r["sequential_ms"] for r in rounds])),
                _median([r["sequential_cpu_ms"] for r in rounds]),
            )
        )
        for size in crowds:
            got = [r["crowds"][size] for r in rounds]
            line.append(
                "%d at once: opened %d, %.0f/s, %.2f ms CPU, event %s"
                % (
                    size,
                    _median([g["opened"] for g in got]),
                    _median([g["per_s"] for g in got]),
                    _median([g["cpu_ms"] for g in got]),
                    _count([g["got_event"] for g in got]),
                )
            )
        print(line[0], "; ".join(line[1:]))


def _count(values: list[int | None]) -> str:
    """The median of counts, or "-" where there was nothing to count (the bare app's events)."""
    median = _median(values)
    return "-" if median != median else "%d" % median


def _median(values: list[Any]) -> float:
    found = [v for v in values if v is not None]
    return statistics.median(found) if found else float("nan")


if __name__ == "__main__":
    main()

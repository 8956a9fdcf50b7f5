"""Handshakes side by side: how fast sockets open, ours against the article's design, in one run.

``python -m bench.handshake [--server daphne|uvicorn] [--crowds 300,1000,5000] [--runs 1]``
(``make bench-handshake``). Real components only: one server process per design (daphne or
uvicorn, default settings), Postgres, Redis for the baseline, clients in separate processes.

Per design it prints: ms per handshake opened one after another (client-observed, median), then
for each crowd opened at once (every member a different user, one room): how many opened,
handshakes/s from the first connect to the last open, the server's CPU ms per handshake, and how
many of the open sockets got the next event written after the crowd opened.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing.connection
import os
import pathlib
import statistics
import time
from collections.abc import Iterator
from typing import Any

from bench import drivers, figures, rig, servers, wsclient

SEQUENTIAL = 200
CLIENT_PROCS = 4
OPEN_TIMEOUT = 30.0
EVENT_TIMEOUT = 30.0


def client_main(
    conn: multiprocessing.connection.Connection, port: int, path: str, cookies: list[str]
) -> None:
    """A client process: on "go", open one socket per cookie at once; report the timings."""
    asyncio.run(_client(conn, port, path, cookies))


async def _client(
    conn: multiprocessing.connection.Connection, port: int, path: str, cookies: list[str]
) -> None:
    recorder = wsclient.Recorder()
    sockets: list[wsclient.Socket] = []
    loop = asyncio.get_running_loop()
    conn.send("ready")
    command = await loop.run_in_executor(None, conn.recv)
    sequential = command == "sequential"
    opened_at: list[float] = []
    took: list[float] = []
    failed = 0

    async def one(cookie: str) -> None:
        nonlocal failed
        started = time.monotonic()
        try:
            sockets.append(await wsclient.open_socket(port, path, cookie, recorder, timeout=OPEN_TIMEOUT))
        except (OSError, ConnectionError, TimeoutError):
            failed += 1
            return
        opened_at.append(time.monotonic())
        took.append(opened_at[-1] - started)

    first = time.monotonic()
    if sequential:
        for cookie in cookies:
            await one(cookie)
    else:
        await asyncio.gather(*(one(cookie) for cookie in cookies))
    conn.send((first, max(opened_at, default=first), len(sockets), failed, took))
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command == "seqs":
            conn.send((list(recorder.seqs), dict(recorder.closes)))
        elif command == "stop":
            for sock in sockets:
                sock.close()
            await asyncio.sleep(0.2)
            conn.send("stopped")
            return


class Crowd:
    """Client processes that open their shares of ``cookies`` together when told to."""

    def __init__(self, port: int, path: str, cookies: list[str], procs: int, mode: str = "burst") -> None:
        self.pipes: list[multiprocessing.connection.Connection] = []
        self.processes: list[Any] = []
        for i in range(procs):
            mine, theirs = rig.CTX.Pipe()
            process = rig.CTX.Process(
                target=client_main, args=(theirs, port, path, cookies[i::procs]), daemon=True
            )
            process.start()
            self.pipes.append(mine)
            self.processes.append(process)
        # Spawning takes a while: the crowd starts when every process is ready, not as each is.
        for pipe in self.pipes:
            if not pipe.poll(60) or pipe.recv() != "ready":
                raise RuntimeError("client process did not start")
        for pipe in self.pipes:
            pipe.send(mode)
        answers = []
        deadline = time.monotonic() + OPEN_TIMEOUT * 2 + (len(cookies) if mode == "sequential" else 0)
        for pipe in self.pipes:
            if not pipe.poll(max(deadline - time.monotonic(), 0.1)):
                raise RuntimeError("client process did not report its handshakes")
            answers.append(pipe.recv())
        self.first = min(a[0] for a in answers)
        self.last = max(a[1] for a in answers)
        self.opened = sum(a[2] for a in answers)
        self.failed = sum(a[3] for a in answers)
        self.took = sorted(t for a in answers for t in a[4])

    def got(self, seq: int) -> tuple[int, dict[int, int]]:
        """How many sockets received the frame of message ``seq``, and the close codes seen."""
        for pipe in self.pipes:
            pipe.send("seqs")
        count, closes = 0, dict[int, int]()
        for pipe in self.pipes:
            seqs, closed = pipe.recv()
            count += seqs.count(seq)
            for code, n in closed.items():
                closes[code] = closes.get(code, 0) + n
        return count, closes

    def stop(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send("stop")
                if pipe.poll(10):
                    pipe.recv()
            except (OSError, EOFError):
                pass
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()


def _next_event(crowd: Crowd, writer: drivers.Writer, seq: int) -> int:
    """Write message ``seq`` and wait (bounded) until every open socket has it or none is coming."""
    writer.write(seq, 1, 1.0)
    deadline = time.monotonic() + EVENT_TIMEOUT
    got, closes = 0, dict[int, int]()
    while time.monotonic() < deadline:
        got, closes = crowd.got(seq)
        if got + sum(closes.values()) >= crowd.opened:
            break
        time.sleep(0.2)
    if closes:
        print("  closed before the event: %s" % dict(sorted(closes.items())), flush=True)
    return got


# ``--before DIR``: the design "before" is ours served from DIR, an exported older tree of this
# project (``git archive <commit> | tar -x -C DIR``), so a change is measured beside its parent.
_before_tree: pathlib.Path | None = None


def _base(design: str) -> str:
    return "ours" if design == "before" else design


@contextlib.contextmanager
def _serving(design: str, config: rig.Config) -> Iterator[servers.Server]:
    root = rig.ROOT
    if design == "before":
        if _before_tree is None:
            raise SystemExit("the design 'before' needs --before DIR")
        rig.ROOT = _before_tree  # the server's working directory, so its `project` is imported
    try:
        server = servers.Server(_base(design), config)
    finally:
        rig.ROOT = root
    try:
        yield server
    finally:
        server.stop()


def stage(design: str, config: rig.Config, fixtures: dict[str, Any], crowds: list[int]) -> dict[str, Any]:
    """One fresh server per crowd (a crowd's sockets close before the next): every figure for one design."""
    path = "/ws/room/%d" % fixtures["room_id"]
    cookies = fixtures["cookies"]
    out: dict[str, Any] = {"design": design, "crowds": {}}
    seq = 1
    with _serving(design, config) as server:
        warm = Crowd(server.port, path, cookies[:1], 1)
        try:
            cpu = server.cpu()
            sequential = Crowd(server.port, path, cookies[1 : 1 + SEQUENTIAL], 1, "sequential")
            out["sequential_cpu_ms"] = (server.cpu() - cpu) * 1000.0 / SEQUENTIAL
            out["sequential_ms"] = statistics.median(sequential.took) * 1000.0 if sequential.took else None
            sequential.stop()
        finally:
            warm.stop()
    print(
        "  %-8s one after another: %s ms per handshake (median of %d), server CPU %.2f ms each"
        % (design, figures.ms(out["sequential_ms"]), SEQUENTIAL, out["sequential_cpu_ms"]),
        flush=True,
    )
    for size in crowds:
        with _serving(design, config) as server:
            warm = Crowd(server.port, path, cookies[:1], 1)
            writer = drivers.Writer(_base(design), config, fixtures)
            try:
                cpu = server.cpu()
                crowd = Crowd(server.port, path, cookies[1 : 1 + size], CLIENT_PROCS)
                cpu = server.cpu() - cpu
                span = max(crowd.last - crowd.first, 1e-6)
                seq += 1
                got = _next_event(crowd, writer, seq) if crowd.opened else 0
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
                writer.stop()
                warm.stop()
        out["crowds"][size] = result
        print(
            "  %-8s %5d at once: opened %d failed %d, %.0f handshakes/s, server CPU %.2f ms/handshake,"
            " p50 open %s ms, next event reached %d"
            % (
                design,
                size,
                result["opened"],
                result["failed"],
                result["per_s"],
                result["cpu_ms"],
                figures.ms(result["p50_ms"]),
                got,
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
    parser.add_argument("--before", type=pathlib.Path, help="an older tree of this project (design 'before')")
    args = parser.parse_args()
    global _before_tree
    _before_tree = args.before
    crowds = [int(n) for n in args.crowds.split(",")]
    config, fixtures = rig.single_server(
        args.database_url, args.server, args.crowds, args.runs, max([*crowds, SEQUENTIAL]) + 1
    )
    designs = args.designs.split(",")
    results: dict[str, list[dict[str, Any]]] = {d: [] for d in designs}
    for number in range(args.runs):
        for design in designs if number % 2 == 0 else designs[::-1]:
            results[design].append(stage(design, config, fixtures, crowds))
    for design, rounds in results.items():
        line = ["%s (%s, medians of %d):" % (design, args.server, len(rounds))]
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
                "%d at once: opened %d, %.0f/s, %.2f ms CPU, event %d"
                % (
                    size,
                    _median([g["opened"] for g in got]),
                    _median([g["per_s"] for g in got]),
                    _median([g["cpu_ms"] for g in got]),
                    _median([g["got_event"] for g in got]),
                )
            )
        print("; ".join(line))


def _median(values: list[Any]) -> float:
    found = [v for v in values if v is not None]
    return statistics.median(found) if found else float("nan")


if __name__ == "__main__":
    main()

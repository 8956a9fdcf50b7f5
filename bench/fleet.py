"""The fleet benchmark: L listeners (server processes) x W writers on one database.

``python -m bench.fleet [--quick]``. For each wake-up mode (``waker``, the default, and
``always``, every writer NOTIFYs) and each L: the queries/s the listeners send and the Postgres CPU
of the listeners' and waker's backends while idle; commit-to-dispatch latency of paced single
writes, at every listener; then, per W, inserts/s into ``chat_chatmessage`` (capture) against the
same table without triggers (plain), in interleaved slices, with the CPU of this database's backends
per event. Postgres CPU is read from ``/proc/<pid>/stat`` of each backend of the benchmark's
database (utime + stime; the server must run on this machine), so other databases' load does not
count. The database is created and dropped by the script. Writes ``docs/benchmarks_fleet.md``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import multiprocessing.connection
import os
import pathlib
import time
import urllib.parse
from typing import Any

import psycopg

from bench import database, figures, fleet_procs, fleet_report, host

ROOT = pathlib.Path(__file__).resolve().parents[1]
RAW_DIR = ROOT / "bench" / "results" / "raw"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_fleet"
HOSTS = 2
CTX = multiprocessing.get_context("spawn")
TICK = os.sysconf("SC_CLK_TCK")
NOTIFY_GUC = {"waker": "off", "always": "on", "off": "off"}


def backend_cpu(url: str) -> dict[int, tuple[str, float]]:
    """CPU seconds so far of each backend of this database, with its application_name."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid, application_name FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    found = {}
    for pid, app in rows:
        try:
            fields = pathlib.Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (app, (int(fields[11]) + int(fields[12])) / TICK)
    return found


def cpu_by_role(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU seconds spent between two readings, by role (listener, waker, writer)."""
    spent = {"listener": 0.0, "waker": 0.0, "writer": 0.0}
    for pid, (app, seconds) in after.items():
        role = {"realtime-listener": "listener", "realtime-waker": "waker", "bench-writer": "writer"}.get(app)
        if role is not None:
            spent[role] += seconds - before.get(pid, (app, 0.0))[1]
    return spent


class Fleet:
    """``count`` listeners spread over host processes, and their wakers."""

    def __init__(self, url: str, mode: str, count: int) -> None:
        self.count = count
        self.pipes: list[multiprocessing.connection.Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        # L = 0 still runs one host: its waker, without listeners (the writers' own cost).
        for i in range(max(1, min(HOSTS, count))):
            share = count // HOSTS + (1 if i < count % HOSTS else 0)
            mine, theirs = CTX.Pipe()
            process = CTX.Process(target=fleet_procs.host_main, args=(theirs, url, mode, share), daemon=True)
            process.start()
            self.pipes.append(mine)
            self.processes.append(process)
        for pipe in self.pipes:
            if not pipe.poll(120):
                raise RuntimeError("a listener host did not start")
            pipe.recv()

    def cpu(self) -> float:
        """CPU seconds of the host processes: the listeners' own Python work."""
        total = 0.0
        for process in self.processes:
            assert process.pid is not None
            fields = pathlib.Path("/proc/%d/stat" % process.pid).read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICK
        return total

    def ask(self, *command: Any) -> list[Any]:
        for pipe in self.pipes:
            pipe.send(command)
        return [pipe.recv() for pipe in self.pipes] if command[0] != "record" else []

    def stats(self) -> dict[str, Any]:
        answers = self.ask("stats")
        return {
            "events": sum(a[0] for a in answers),
            "steps": sum(a[1] for a in answers),
            "leaders": sum(1 for a in answers if a[2]),
        }

    def wait_for_events(self, total: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.stats()["events"] < total and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        for pipe in self.pipes:
            pipe.send(("stop",))
        for pipe, process in zip(self.pipes, self.processes, strict=True):
            if pipe.poll(15):
                pipe.recv()
            process.join(5)
            if process.is_alive():
                process.kill()


class Writers:
    """``count`` persistent writer processes with the mode's `realtime.notify`."""

    def __init__(self, url: str, mode: str, count: int, fixtures: dict[str, Any]) -> None:
        self.pipes = []
        self.processes = []
        for _ in range(count):
            mine, theirs = CTX.Pipe()
            args = (theirs, url, NOTIFY_GUC[mode], fixtures["room_id"], fixtures["sender_id"])
            process = CTX.Process(target=fleet_procs.writer_main, args=args, daemon=True)
            process.start()
            self.pipes.append(mine)
            self.processes.append(process)
        for pipe in self.pipes:
            pipe.recv()

    def run(self, count: int, table: str, seconds: float) -> int:
        start_at = time.time() + 0.3
        for pipe in self.pipes[:count]:
            pipe.send(("run", table, start_at, seconds))
        return sum(pipe.recv() for pipe in self.pipes[:count])

    def stop(self) -> None:
        for pipe in self.pipes:
            pipe.send(("stop",))
        for process in self.processes:
            process.join(5)


def measure(
    url: str, mode: str, listeners: int, writers: Writers, args: argparse.Namespace
) -> dict[str, Any]:
    out: dict[str, Any] = {"mode": mode, "listeners": listeners}
    fleet = Fleet(url, mode, listeners)
    try:
        time.sleep(1.0)  # the waker is elected, the first steps are done
        # Idle: what the fleet asks of Postgres when nothing is written.
        stats0, cpu0 = fleet.stats(), backend_cpu(url)
        time.sleep(args.idle)
        stats1, cpu1 = fleet.stats(), backend_cpu(url)
        spent = cpu_by_role(cpu0, cpu1)
        # Queries the listeners send; the waker's ticks run inside Postgres (one CALL), their
        # cost is in the CPU figure.
        out["idle_queries_per_s"] = (stats1["steps"] - stats0["steps"]) / args.idle
        out["idle_pg_cpu_ms_per_s"] = (spent["listener"] + spent["waker"]) * 1000 / args.idle
        out["leaders"] = stats1["leaders"]
        # Latency: paced single writes, as a page would see them, at every listener.
        fleet.ask("record", True)
        first = 1 + listeners * 100_000
        committed = writers.pipes[0]
        committed.send(("paced", first, args.paced, args.rate))
        times: list[float] = list(memoryview(committed.recv()).cast("d"))
        time.sleep(0.5)  # the last write's frames are out well within this
        latencies = []
        for seq_bytes, time_bytes in fleet.ask("dump"):
            for seq, at in zip(
                memoryview(seq_bytes).cast("q"), memoryview(time_bytes).cast("d"), strict=True
            ):
                if 0 <= seq - first < len(times):
                    latencies.append((at - times[seq - first]) * 1000)
        fleet.ask("record", False)
        latencies.sort()
        out["latency"] = figures.percentiles(latencies)
        out["latency"]["lost"] = args.paced * listeners - len(latencies)
        # Throughput: plain and capture slices in turn; CPU per event over the capture slices.
        for count in args.writers:
            totals = {"plain": 0, "capture": 0}
            roles = {"listener": 0.0, "waker": 0.0, "writer": 0.0}
            host_cpu = 0.0
            for number in range(args.rounds):
                if number % 2 == 0:  # plain first in every other round: neither meets a warmer machine
                    totals["plain"] += writers.run(count, database.PLAIN_TABLE, args.slice)
                events0, before, host0 = fleet.stats()["events"], backend_cpu(url), fleet.cpu()
                done = writers.run(count, "chat_chatmessage", args.slice)
                # +count: each writer's warm-up insert is an event too.
                fleet.wait_for_events(events0 + (done + count) * listeners)
                host_cpu += fleet.cpu() - host0
                for role, seconds in cpu_by_role(before, backend_cpu(url)).items():
                    roles[role] += seconds
                totals["capture"] += done
                if number % 2 == 1:
                    totals["plain"] += writers.run(count, database.PLAIN_TABLE, args.slice)
            events = max(1, totals["capture"])
            out["w%d" % count] = {
                "plain_per_s": totals["plain"] / (args.slice * args.rounds),
                "capture_per_s": totals["capture"] / (args.slice * args.rounds),
                "ratio": totals["capture"] / max(1, totals["plain"]),
                "pg_cpu_ms_per_1000": sum(roles.values()) * 1e6 / events,
                "writer_cpu_ms_per_1000": roles["writer"] * 1e6 / events,
                "listener_us_per_event_per_listener": roles["listener"] * 1e6 / events / max(1, listeners),
                "waker_us_per_event": roles["waker"] * 1e6 / events,
                "python_us_per_event_per_listener": host_cpu * 1e6 / events / max(1, listeners),
            }
            print(
                "  %-6s L=%-3d W=%d: %s" % (mode, listeners, count, json.dumps(out["w%d" % count])),
                flush=True,
            )
    finally:
        fleet.stop()
    print(
        "  %-6s L=%-3d idle %.1f q/s, %.1f ms CPU/s; latency %s"
        % (mode, listeners, out["idle_queries_per_s"], out["idle_pg_cpu_ms_per_s"], out["latency"]),
        flush=True,
    )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_FLEET_URL", DEFAULT_URL))
    parser.add_argument("--listeners", default="0,1,8,32,64")
    parser.add_argument("--writers", default="1,8")
    parser.add_argument("--modes", default="waker,always")
    parser.add_argument("--quick", action="store_true", help="shorter slices (about 4 minutes)")
    parser.add_argument("--no-report", action="store_true", help="do not rewrite docs/benchmarks_fleet.md")
    parser.add_argument("--report-from", metavar="RAW_JSON", help="only rewrite the report from raw results")
    args = parser.parse_args(argv)
    if args.report_from:
        fleet_report.write(
            json.loads(pathlib.Path(args.report_from).read_text()), ROOT / "docs" / "benchmarks_fleet.md"
        )
        return
    args.listeners = [int(n) for n in args.listeners.split(",")]
    args.writers = [int(n) for n in args.writers.split(",")]
    args.slice, args.rounds, args.idle = (1.0, 2, 3.0) if args.quick else (2.0, 3, 5.0)
    args.paced, args.rate = (40, 20.0) if args.quick else (100, 20.0)
    url = args.database_url
    started = time.time()
    database.create_database(url)
    results = []
    try:
        database.migrate(dict(os.environ, DATABASE_URL=url, DJANGO_SETTINGS_MODULE="project.settings"))
        with CTX.Pool(1) as pool:
            fixtures = pool.apply(database.prepare, (url, 0))
        for mode in args.modes.split(","):
            writers = Writers(url, mode, max(args.writers), fixtures)
            try:
                for listeners in args.listeners:
                    results.append(measure(url, mode, listeners, writers, args))
            finally:
                writers.stop()
        machine = host.describe(url)
    finally:
        _drop(url)
    result: dict[str, Any] = {"args": dict(vars(args)), "machine": machine, "results": results}
    result["seconds"] = time.time() - started
    RAW_DIR.mkdir(parents=True, exist_ok=True)
    raw = RAW_DIR / ("fleet-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
    raw.write_text(json.dumps(result, indent=1))
    print("raw results: %s" % raw.relative_to(ROOT))
    if not args.no_report:
        fleet_report.write(result, ROOT / "docs" / "benchmarks_fleet.md")
        print("wrote docs/benchmarks_fleet.md")
    print("took %.0f s" % result["seconds"])


def _drop(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
        conn.execute("DROP DATABASE IF EXISTS %s" % psycopg.sql.Identifier(name).as_string(conn))


if __name__ == "__main__":
    main()

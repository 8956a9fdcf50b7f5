"""The side-by-side benchmark: ours (Postgres triggers + listener) against the article's design.

``python -m bench.run [--quick]`` (``make bench``). Real components only: Postgres, one
daphne process per design serving its ASGI app, WebSocket clients in separate processes,
writers in separate processes. Writes ``docs/benchmarks.md``, ``docs/latency_vs_subscribers.png``
and the raw figures (``bench/results/raw/``, git-ignored).
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import json
import multiprocessing
import multiprocessing.connection
import os
import pathlib
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import psutil

from bench import database, gcmetrics, light, report, writers, wsclient

ROOT = pathlib.Path(__file__).resolve().parents[1]
RAW_DIR = ROOT / "bench" / "results" / "raw"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_realtime"
DESIGNS = ("ours", "baseline")
APPS = {
    "ours": "project.asgi:application",
    "ours_quiet": "project.asgi:application",
    "ours_gc": "project.asgi:application",
    "baseline": "bench.baseline.asgi:application",
    "bare": "bench.bare_asgi:application",
}
SETTINGS = {
    "ours": "project.settings",
    "ours_quiet": "bench.quiet_settings",
    "ours_gc": "bench.gc_settings",
    "baseline": "bench.baseline.settings",
    "bare": "project.settings",
}
WARM_SOCKETS = 10
FIXED_RATE = 10.0
# A rate is sustained when the p99 stays within this and no frame is lost and no socket closed.
P99_BUDGET_MS = 100.0
QUIET_SUBSCRIBERS = 1000

CTX = multiprocessing.get_context("spawn")


class Config:
    """What one invocation measures, and how long it may take."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.quick: bool = args.quick
        self.url: str = args.database_url
        self.runs: int = args.runs or (2 if args.quick else 3)
        self.subscribers: list[int] = [int(n) for n in args.subscribers.split(",")]
        self.server: str = args.server
        self.client_procs: int = args.client_procs
        self.fixed_seconds = 2.0 if args.quick else 3.0
        self.sweep_seconds = 1.5 if args.quick else 2.0
        self.light_seconds = 15.0 if args.quick else 30.0
        # Deliveries per second tried in turn (rate = target / subscribers), until one fails.
        self.targets = (
            [2_000, 5_000, 10_000, 20_000, 40_000]
            if args.quick
            else [1_000, 2_000, 5_000, 10_000, 15_000, 20_000, 30_000, 40_000, 60_000]
        )
        self.write_slice = 1.0
        self.write_rounds = 2 if args.quick else 4
        self.catchup_events = 1000
        self.catchup_repeats = 2 if args.quick else 3
        self.redis_prefix = "bench-%s" % secrets.token_hex(4)


def single_server(
    database_url: str, server: str, subscribers: str, runs: int, users: int
) -> tuple[Config, dict[str, Any]]:
    """The set-up of the one-server benchmarks (light, gc_profile, socket_memory): their config,
    the database created and migrated, and ``users`` logged-in users on one room."""
    config = Config(
        argparse.Namespace(
            quick=True,
            database_url=database_url,
            runs=runs,
            subscribers=subscribers,
            server=server,
            client_procs=2,
        )
    )
    database.create_database(config.url)
    database.migrate(dict(os.environ, DATABASE_URL=config.url, DJANGO_SETTINGS_MODULE="project.settings"))
    with CTX.Pool(1) as pool:
        fixtures = pool.apply(database.prepare, (config.url, users))
    return config, fixtures


# Servers -------------------------------------------------------------------------------------


class Server:
    """One ASGI server process serving one design."""

    def __init__(self, design: str, config: Config) -> None:
        self.design = design
        self.port = _free_port()
        env = dict(
            os.environ,
            DATABASE_URL=config.url,
            DJANGO_SETTINGS_MODULE=SETTINGS[design],
            DJANGO_DEBUG="0",
            REALTIME_LOG_LEVEL="WARNING",
            BENCH_REDIS_PREFIX=config.redis_prefix,
            PYTHONDONTWRITEBYTECODE="1",
        )
        if config.server == "uvicorn":
            command = [
                "-m",
                "uvicorn",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--ws",
                "websockets-sansio",
                "--log-level",
                "warning",
                "--no-access-log",
                APPS[design],
            ]
        else:
            command = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), APPS[design]]
        self.process = subprocess.Popen(
            [sys.executable, *command], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=None
        )
        self._wait_up()

    def cpu(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()
        return times.user + times.system

    def rss(self) -> int:
        return psutil.Process(self.process.pid).memory_info().rss

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _wait_up(self, timeout: float = 60) -> None:
        # Ours answers /health once its listener is connected; the baseline has no such page,
        # any HTTP answer will do.
        path = "/" if self.design == "baseline" else "/health"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("%s server exited with %s" % (self.design, self.process.returncode))
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path), timeout=2):
                    return
            except urllib.error.HTTPError:
                if self.design == "baseline":
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("%s server did not come up" % self.design)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(design: str, config: Config) -> Iterator[Server]:
    server = Server(design, config)
    try:
        yield server
    finally:
        server.stop()


# Clients and writers --------------------------------------------------------------------------


class Clients:
    """Client processes holding ``count`` sockets on one room between them."""

    def __init__(self, port: int, path: str, cookies: list[str], procs: int) -> None:
        self.pipes: list[multiprocessing.connection.Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for i in range(procs):
            share = cookies[i::procs]
            if not share:
                continue
            mine, theirs = CTX.Pipe()
            process = CTX.Process(target=wsclient.client_main, args=(theirs, port, path, share), daemon=True)
            process.start()
            self.pipes.append(mine)
            self.processes.append(process)
        self.opened = 0
        self.failed = 0
        for pipe, process in zip(self.pipes, self.processes, strict=True):
            deadline = time.monotonic() + 180
            while not pipe.poll(0.5):
                if not process.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError("client process did not connect its sockets")
            _, opened, failed = pipe.recv()
            self.opened += opened
            self.failed += failed

    def ask(self, command: str) -> list[Any]:
        for pipe in self.pipes:
            pipe.send(command)
        return [pipe.recv() for pipe in self.pipes]

    def received(self) -> tuple[int, int]:
        answers = self.ask("count")
        return sum(a[0] for a in answers), sum(a[1] for a in answers)

    def dump(self) -> tuple[array.array[int], array.array[float], dict[int, int]]:
        seqs: array.array[int] = array.array("q")
        times: array.array[float] = array.array("d")
        closes: dict[int, int] = {}
        for seq_bytes, time_bytes, closed in self.ask("dump"):
            seqs.frombytes(seq_bytes)
            times.frombytes(time_bytes)
            for code, n in closed.items():
                closes[code] = closes.get(code, 0) + n
        return seqs, times, closes

    def stop(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            self.ask("stop")
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()


class Writer:
    """A paced writer process for one design."""

    def __init__(self, design: str, config: Config, fixtures: dict[str, Any]) -> None:
        self.pipe, theirs = CTX.Pipe()
        env = {"BENCH_REDIS_PREFIX": config.redis_prefix, "DJANGO_DEBUG": "0"}
        self.process = CTX.Process(
            target=writers.paced_main,
            args=(theirs, SETTINGS[design], config.url, fixtures["room_id"], fixtures["sender_id"], env),
        )
        self.process.start()
        if self.pipe.recv() != "ready":
            raise RuntimeError("writer did not start")

    def write(self, first: int, count: int, rate: float) -> array.array[float]:
        self.pipe.send(("write", first, count, rate))
        committed: array.array[float] = array.array("d")
        committed.frombytes(self.pipe.recv())
        return committed

    def stop(self) -> None:
        self.pipe.send(("stop",))
        self.process.join(10)


# Stages ---------------------------------------------------------------------------------------


class Sequence:
    """Globally unique sequence numbers, so a late frame never counts for a later round."""

    def __init__(self) -> None:
        self.next = 1

    def take(self, count: int) -> int:
        first = self.next
        self.next += count
        return first


def fan_out_round(
    server: Server, clients: Clients, writer: Writer, seq: Sequence, subscribers: int, count: int, rate: float
) -> dict[str, Any]:
    """Write ``count`` messages at ``rate``; collect every subscriber's frames for them."""
    cpu_before = server.cpu()
    first = seq.take(count)
    committed = writer.write(first, count, rate)
    expected = count * subscribers
    last_progress, last_seen = time.monotonic(), -1
    give_up = time.monotonic() + 20
    while time.monotonic() < give_up:
        seen, closed = clients.received()
        if seen >= expected or closed >= subscribers:
            break
        if seen != last_seen:
            last_progress, last_seen = time.monotonic(), seen
        elif time.monotonic() - last_progress > 2.0:
            break
        time.sleep(0.05)
    cpu = server.cpu() - cpu_before
    seqs, times, closes = clients.dump()
    latencies = []
    for s, t in zip(seqs, times, strict=True):
        index = s - first
        if 0 <= index < count:
            latencies.append((t - committed[index]) * 1000.0)
    latencies.sort()
    span = committed[-1] - committed[0] if count > 1 else 1.0
    achieved = (count - 1) / span if span > 0 else rate
    result = {
        "subscribers": subscribers,
        "events": count,
        "rate_target": rate,
        "rate": achieved,
        "expected": expected,
        "received": len(latencies),
        "lost": expected - len(latencies),
        "closes": closes,
        "deliveries_per_s": achieved * subscribers,
        # Server CPU (user + system) per frame delivered: robust to other load on the machine.
        "cpu_us_per_frame": cpu * 1e6 / len(latencies) if latencies else None,
    }
    result.update(report.percentiles(latencies))
    result["sustained"] = (
        result["lost"] == 0 and not closes and result["p99"] is not None and result["p99"] <= P99_BUDGET_MS
    )
    return result


def fan_out_stage(
    design: str, subscribers: int, config: Config, fixtures: dict[str, Any], sweep_rates: bool = True
) -> dict[str, Any]:
    """One server process, ``subscribers`` sockets on one room: memory, fixed rate, rate sweep."""
    path = "/ws/room/%d" % fixtures["room_id"]
    out: dict[str, Any] = {"design": design, "subscribers": subscribers}
    with serving(design, config) as server:
        cookies = fixtures["cookies"][:subscribers]
        warm = Clients(server.port, path, cookies[:WARM_SOCKETS], 1)
        time.sleep(0.5)
        rss_before = server.rss()
        rest = Clients(server.port, path, cookies[WARM_SOCKETS:], config.client_procs)
        time.sleep(1.0)
        rss_after = server.rss()
        opened = warm.opened + rest.opened
        out["opened"] = opened
        out["rss_mb"] = rss_after / 2**20
        out["rss_kb_per_socket"] = (rss_after - rss_before) / max(1, rest.opened) / 1024
        both = _Both(warm, rest)
        writer = Writer(design, config, fixtures)
        seq = Sequence()
        try:
            fan_out_round(server, both, writer, seq, opened, 5, 5.0)  # warm-up, not recorded
            gc_before = gcmetrics.read(server.port) if design != "baseline" else None
            out["fixed"] = fan_out_round(
                server, both, writer, seq, opened, int(FIXED_RATE * config.fixed_seconds), FIXED_RATE
            )
            out["fixed"]["gc"] = gcmetrics.delta(
                gc_before, gcmetrics.read(server.port) if gc_before else None
            )
            sweep = []
            for target in config.targets if sweep_rates else []:
                rate = target / opened
                # Enough events for a p99 over subscribers x events frames, without minutes per round.
                count = max(5, int(rate * config.sweep_seconds), min(20, int(rate * 10)))
                result = fan_out_round(server, both, writer, seq, opened, count, rate)
                if not result["sustained"] and not result["closes"]:
                    # Other load on the machine can spoil one round: a rate fails only twice.
                    time.sleep(1.0)
                    result = fan_out_round(server, both, writer, seq, opened, count, rate)
                sweep.append(result)
                print(
                    "  %-8s n=%-5d target %6d/s: rate %.1f/s p99 %s ms lost %d closes %s cpu %s us/frame"
                    % (
                        design,
                        opened,
                        target,
                        result["rate"],
                        _ms(result["p99"]),
                        result["lost"],
                        result["closes"] or "-",
                        _ms(result["cpu_us_per_frame"]),
                    ),
                    flush=True,
                )
                if not result["sustained"]:
                    break
            out["sweep"] = sweep
            held = [r for r in sweep if r["sustained"]]
            out["best"] = max(held, key=lambda r: r["deliveries_per_s"]) if held else None
        finally:
            writer.stop()
            both.stop()
    return out


class _Both(Clients):
    """Two client groups asked as one."""

    def __init__(self, *groups: Clients) -> None:
        self.pipes = [p for g in groups for p in g.pipes]
        self.processes = [p for g in groups for p in g.processes]
        self.opened = sum(g.opened for g in groups)
        self.failed = sum(g.failed for g in groups)


def _ms(value: float | None) -> str:
    return "-" if value is None else "%.1f" % value


def write_cost_stage(config: Config, fixtures: dict[str, Any]) -> dict[str, Any]:
    """Inserts/s per mode with 1 and 8 concurrent writers, our server's listener running."""
    env = {"BENCH_REDIS_PREFIX": config.redis_prefix, "DJANGO_DEBUG": "0"}
    modes = list(writers.MODES)
    # Every mode in short slices, in a rotated order each round.
    schedule = [
        m for r in range(config.write_rounds) for m in modes[r % len(modes) :] + modes[: r % len(modes)]
    ]
    out: dict[str, Any] = {}
    with serving("ours", config):
        for count in (1, 8):
            barrier = CTX.Barrier(count)
            results: Any = CTX.Queue()
            processes = [
                CTX.Process(
                    target=writers.throughput_main,
                    args=(
                        schedule,
                        config.url,
                        fixtures["room_id"],
                        fixtures["sender_id"],
                        config.write_slice,
                        barrier,
                        results,
                        env,
                    ),
                )
                for _ in range(count)
            ]
            for process in processes:
                process.start()
            done = [results.get(timeout=600) for _ in processes]
            for process in processes:
                process.join(10)
            for mode in modes:
                rate = sum(d[mode] for d in done) / (config.write_slice * config.write_rounds)
                out["%s/%d" % (mode, count)] = rate
                print("  writes %-18s x%d: %8.0f inserts/s" % (mode, count, rate), flush=True)
    return out


def catchup_stage(config: Config, fixtures: dict[str, Any]) -> dict[str, Any]:
    """Ours only: a page that missed ``catchup_events`` events reconnects with its last cursor."""
    times: list[float] = []
    with serving("ours", config) as server:
        writer = Writer("ours", config, fixtures)
        try:
            seq = Sequence()
            for _ in range(config.catchup_repeats):
                times.append(asyncio.run(_catch_up(server.port, writer, seq, config, fixtures)))
        finally:
            writer.stop()
    return {"ms": times}


async def _catch_up(
    port: int, writer: Writer, seq: Sequence, config: Config, fixtures: dict[str, Any]
) -> float:
    path = "/ws/room/%d" % fixtures["room_id"]
    recorder = wsclient.Recorder()
    page = await wsclient.open_socket(port, path, fixtures["cookies"][0], recorder, keep_frames=True)
    writer.write(seq.take(1), 1, 100.0)
    for _ in range(500):
        if page.frames:
            break
        await asyncio.sleep(0.01)
    cursor = json.loads(page.frames[-1])["cursor"]
    page.close()
    first = seq.take(config.catchup_events)
    writer.write(first, config.catchup_events, 1e6)
    recorder = wsclient.Recorder()
    started = time.monotonic()
    page = await wsclient.open_socket(
        port, "%s?cursor=%s" % (path, cursor), fixtures["cookies"][0], recorder, keep_frames=True
    )
    deadline = started + 30
    while len(recorder.seqs) < config.catchup_events and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
    elapsed = (recorder.times[-1] - started) * 1000.0 if len(recorder.seqs) else float("nan")
    page.close()
    if list(recorder.seqs[: config.catchup_events]) != list(range(first, first + config.catchup_events)):
        raise RuntimeError("catch-up frames missing or out of order")
    return elapsed


# Main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs, shorter rounds (~5 minutes)")
    parser.add_argument("--runs", type=int, default=0, help="repetitions (default 3, quick 2)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--subscribers", default="100,1000,2000")
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--only", default="fanout,light,writes,catchup", help="stages to run")
    parser.add_argument("--no-report", action="store_true", help="do not rewrite docs/")
    parser.add_argument(
        "--report-from", metavar="RAW_JSON", help="only rewrite docs/ from earlier raw results"
    )
    args = parser.parse_args(argv)
    if args.report_from:
        report.write(json.loads(pathlib.Path(args.report_from).read_text()), ROOT / "docs")
        return
    # A terminated run still stops its servers and clients (the finally clauses).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    config = Config(args)
    stages = set(args.only.split(","))
    started = time.time()
    load_at_start = [round(x, 1) for x in os.getloadavg()]
    print("benchmark: %s, %d run(s), database %s" % (config.server, config.runs, config.url), flush=True)
    database.create_database(config.url)
    database.migrate(dict(os.environ, DATABASE_URL=config.url, DJANGO_SETTINGS_MODULE="project.settings"))
    with CTX.Pool(1) as pool:
        fixtures = pool.apply(database.prepare, (config.url, max(config.subscribers) + 10))
    runs = []
    for number in range(config.runs):
        print("run %d/%d" % (number + 1, config.runs), flush=True)
        run: dict[str, Any] = {"fanout": [], "light": None, "writes": None, "catchup": None}
        if "fanout" in stages:
            for subscribers in config.subscribers:
                # Alternate which design goes first, so neither always meets a warmer machine.
                order = DESIGNS if (number + subscribers) % 2 == 0 else DESIGNS[::-1]
                for design in order:
                    run["fanout"].append(fan_out_stage(design, subscribers, config, fixtures))
                if subscribers == QUIET_SUBSCRIBERS:
                    # The latency cost of REALTIME_NOTIFY = "off" (polling instead of wake-ups).
                    run["fanout"].append(
                        fan_out_stage("ours_quiet", subscribers, config, fixtures, sweep_rates=False)
                    )
        if "light" in stages:
            # Light load side by side: where the collector's pauses show most (light.py).
            run["light"] = {
                design: light.stage(design, config, fixtures, config.light_seconds)
                for design in (DESIGNS if number % 2 == 0 else DESIGNS[::-1])
            }
        if "writes" in stages:
            run["writes"] = write_cost_stage(config, fixtures)
        if "catchup" in stages:
            run["catchup"] = catchup_stage(config, fixtures)
            print(
                "  catch-up of %d events: %s ms" % (config.catchup_events, run["catchup"]["ms"]), flush=True
            )
        runs.append(run)
    result = {
        "config": {
            "quick": config.quick,
            "runs": config.runs,
            "server": config.server,
            "database": config.url,
            "subscribers": config.subscribers,
            "fixed_rate": FIXED_RATE,
            "light_rate": light.RATE,
            "light_seconds": config.light_seconds,
            "targets": config.targets,
            "p99_budget_ms": P99_BUDGET_MS,
            "catchup_events": config.catchup_events,
            "message_size": writers.MESSAGE_SIZE,
            "client_procs": config.client_procs,
            "load_at_start": load_at_start,
            "seconds": time.time() - started,
        },
        "machine": report.machine(config.url),
        "runs": runs,
    }
    RAW_DIR.mkdir(parents=True, exist_ok=True)
    raw = RAW_DIR / ("%s-%s.json" % (time.strftime("%Y%m%d-%H%M%S"), config.server))
    raw.write_text(json.dumps(result, indent=1))
    print("raw results: %s" % raw.relative_to(ROOT))
    if not args.no_report:
        report.write(result, ROOT / "docs")
        print("wrote docs/benchmarks.md and docs/latency_vs_subscribers.png")
    print("took %.0f s" % (time.time() - started))


if __name__ == "__main__":
    main()

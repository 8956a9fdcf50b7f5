"""What pruning the log costs live delivery, and what it leaves behind.

``python -m bench.prune [--url URL] [--events N] [--modes at-once,batches] [--pause S]``. Real
Postgres (the embedded server's database ``prune_bench`` unless ``--url``) and the real listener
(LISTEN, woken by NOTIFY) in this process. For each mode, on a fresh log of N events older than
an hour (spread over 100 rooms):

- a writer commits one probe event every 50 ms and times each from before its statement (which
  commits) to its dispatch by the listener: p50/p99/max while idle, then while the prune runs;
- the prune's wall time;
- the size of the log and its topic index (heap + indexes) with the N events, right after the
  prune, and after N/2 new events written once it is done: dead space that writes cannot reuse
  shows up as growth.

Modes: ``at-once`` is the one-statement prune of earlier versions (query ``prune_events_at_once``)
with Postgres' default autovacuum settings on the log; ``batches`` is ``manage.py prune_events``
as shipped (5,000 events per transaction, 0.1 s apart, then VACUUM) with the settings of migration 0006.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import psycopg

from bench import logscan

PROBE_EVERY = 0.05
IDLE_PROBES = 200
TABLES = ("listener_event", "listener_event_topic")
DEFAULTS = (
    "autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, autovacuum_vacuum_insert_scale_factor"
)
TUNED = (
    "autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 50000,"
    " autovacuum_vacuum_insert_scale_factor = 0.05"
)


async def fill(conn: psycopg.AsyncConnection[Any], count: int, age: str) -> None:
    """``count`` events of 100 rooms, created ``age`` ago, in transactions of 10,000."""
    for start in range(0, count, 10_000):
        n = min(10_000, count - start)
        await conn.execute(
            "INSERT INTO listener_event (topics, type, payload, created)"
            " SELECT ARRAY['room_' || (i %% 100)], 'chat_message_created',"
            " jsonb_build_object('message', repeat('x', 40), 'i', i), now() - %(age)s::interval"
            " FROM generate_series(1, %(n)s) i",
            {"age": age, "n": n},
        )


async def size_mb(conn: psycopg.AsyncConnection[Any]) -> float:
    row = await (
        await conn.execute(
            "SELECT sum(pg_total_relation_size(c))::float8 FROM unnest(%s::regclass[]) c", [list(TABLES)]
        )
    ).fetchone()
    assert row is not None
    return float(row[0]) / 2**20


class Probe:
    """A light writer whose events the listener times from commit to dispatch."""

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}
        self.waiting: asyncio.Future[None] | None = None
        self.count = 0

    def sink(self, event: Any) -> None:
        if event.type == "probe":
            self.arrived[event.kwargs["i"]] = time.perf_counter()
            if self.waiting is not None and not self.waiting.done():
                self.waiting.set_result(None)

    async def run(
        self, writer: psycopg.AsyncConnection[Any], until: asyncio.Future[Any] | int
    ) -> list[float]:
        lags: list[float] = []
        while True:
            if isinstance(until, int) and len(lags) >= until:
                return lags
            if not isinstance(until, int) and until.done() and lags:
                return lags
            i = self.count = self.count + 1
            self.waiting = asyncio.get_running_loop().create_future()
            started = time.perf_counter()
            await writer.execute(
                "SELECT realtime_append_event_v1(ARRAY['room_live'], 'probe', jsonb_build_object('i', %s))",
                [i],
            )
            await asyncio.wait_for(self.waiting, 60)
            lags.append(self.arrived[i] - started)
            await asyncio.sleep(max(0.0, PROBE_EVERY - (time.perf_counter() - started)))


def summary(lags: list[float]) -> str:
    ms = sorted(x * 1000 for x in lags)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return "p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  (%d probes)" % (
        statistics.median(ms),
        p99,
        ms[-1],
        len(ms),
    )


async def prune_at_once(url: str) -> None:
    from listener import queries

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(queries.get("prune_events_at_once"), {"before": "now()"})


async def prune_batches(url: str, pause: float) -> None:
    env = dict(os.environ, DATABASE_URL=url, DJANGO_SETTINGS_MODULE="project.settings")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "manage.py",
        "prune_events",
        "--older-than",
        "1h",
        "--pause",
        str(pause),
        env=env,
        stdout=subprocess.DEVNULL,
    )
    if await proc.wait() != 0:
        raise RuntimeError("prune_events failed with exit code %s" % proc.returncode)


async def run_mode(url: str, mode: str, events: int, pause: float) -> None:
    from listener.log import listen

    probe = Probe()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as writer:
        await logscan.clear(writer)
        for table in TABLES:
            if mode == "at-once":
                await writer.execute("ALTER TABLE %s RESET (%s)" % (table, DEFAULTS))
            else:
                await writer.execute("ALTER TABLE %s SET (%s)" % (table, TUNED))
        started = time.perf_counter()
        await fill(writer, events, "2 hours")
        await writer.execute("VACUUM ANALYZE listener_event, listener_event_topic")
        full = await size_mb(writer)
        print(
            "%-8s filled %d events in %.1f s: %.1f MB" % (mode, events, time.perf_counter() - started, full),
            flush=True,
        )
        listener = listen.Listener(probe.sink)
        listener.start()
        await asyncio.wait_for(listener.ready.wait(), 30)
        try:
            idle = await probe.run(writer, IDLE_PROBES)
            print("%-8s idle         %s" % (mode, summary(idle)), flush=True)
            started = time.perf_counter()
            task = asyncio.ensure_future(
                prune_at_once(url) if mode == "at-once" else prune_batches(url, pause)
            )
            during = await probe.run(writer, task)
            await task
            took = time.perf_counter() - started
            print("%-8s during prune %s" % (mode, summary(during)), flush=True)
            print("%-8s pruned %d events in %.1f s" % (mode, events, took), flush=True)
        finally:
            await listener.stop()
        pruned = await size_mb(writer)
        await fill(writer, events // 2, "0 seconds")
        after = await size_mb(writer)
        print(
            "%-8s size: %.1f MB full, %.1f MB after prune, %.1f MB after %d new events"
            % (mode, full, pruned, after, events // 2),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a Postgres database to use (created and migrated)")
    parser.add_argument("--events", type=int, default=1_000_000, help="events to prune (default 1M)")
    parser.add_argument("--modes", default="at-once,batches", help="comma-separated: at-once, batches")
    parser.add_argument("--pause", type=float, default=0.1, help="prune_events --pause, for batches")
    args = parser.parse_args()
    url = args.url or logscan.bench_url().replace("/logscan_bench", "/prune_bench")
    logscan.setup(url)
    for mode in args.modes.split(","):
        asyncio.run(run_mode(url, mode, args.events, args.pause))


if __name__ == "__main__":
    main()

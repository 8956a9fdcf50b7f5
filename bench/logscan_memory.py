"""Peak memory of a listener that reads one very large transaction.

``python -m bench.logscan_memory [--url URL] [--rows 1000000]``. One transaction appends
``--rows`` events to the log (on the embedded server's database ``logscan_bench`` unless
``--url``); a real listener, started before it, reads them in one step and serializes each
frame, as it does for sockets. Prints the process's resident memory before the step and the
peak growth during it (``ru_maxrss``), with the step's duration.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from typing import Any

import psutil
import psycopg

from bench import logscan


async def measure(url: str, rows: int) -> None:
    from listener.log import cursors, events, listen

    seen = {"count": 0, "last": 0, "bytes": 0}

    def sink(event: events.LogEvent) -> None:
        assert event.id > seen["last"], "out of order"
        seen["last"] = event.id
        seen["count"] += 1
        seen["bytes"] += len(event.frame)

    async with (
        await psycopg.AsyncConnection.connect(url, autocommit=True) as conn,
        await psycopg.AsyncConnection.connect(url) as writer,
    ):
        await logscan.clear(conn)
        row = await (await conn.execute("SELECT pg_current_snapshot()::text")).fetchone()
        assert row is not None
        listener = listen.Listener(sink, since=cursors.Snapshot.parse(row[0]))
        await listener.step(conn)
        started = time.perf_counter()
        await writer.execute(
            "SELECT count(realtime_append_event_v1(ARRAY['room_big'], 'bench',"
            " jsonb_build_object('i', i, 'message', repeat('x', 60)))) FROM generate_series(1, %(n)s) i",
            {"n": rows},
        )
        await writer.commit()
        print("appended %d events in one transaction in %.1f s" % (rows, time.perf_counter() - started))
        before = psutil.Process().memory_info().rss
        peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        started = time.perf_counter()
        await listener.step(conn)
        took = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert seen["count"] == rows, seen
    print(
        "listener step over %d events: %.1f s, RSS before %.1f MB, peak growth %.1f MB"
        " (%.0f MB of frames serialized)"
        % (
            rows,
            took,
            before / 2**20,
            (peak - max(before, peak_before)) / 2**20,
            seen["bytes"] / 2**20,
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a Postgres database to use (created and migrated)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    args: Any = parser.parse_args()
    url = args.url or logscan.bench_url()
    logscan.setup(url)
    asyncio.run(measure(url, args.rows))


if __name__ == "__main__":
    main()

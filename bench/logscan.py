"""What reading the log costs: a listener step beside an open transaction, and resuming pages.

``python -m bench.logscan [--url URL] [--quick]``. Real Postgres (the embedded server's
database ``logscan_bench`` unless ``--url``), the real listener and the real replay query. Prints:

- the median time of a listener step with nothing new, and with one new event, while a write
  transaction stays open, after 0, 20k and 100k events committed elsewhere;
- beside such a transaction and 200k events elsewhere, the median time from a writer's commit
  to the dispatch of its event by a running listener;
- the median time of one page's replay over its room's 10 events among 100k events of other
  rooms, and the wall time of 80 pages resuming at once (80 connections) after 200k events.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
from typing import Any

import psycopg

from bench import database

BATCH = 1000


def bench_url() -> str:
    out = subprocess.run(
        [sys.executable, "-m", "project.embedded_postgres"], check=True, capture_output=True, text=True
    ).stdout.strip()
    parts = urllib.parse.urlsplit(out)
    return urllib.parse.urlunsplit(parts._replace(path="/logscan_bench"))


def setup(url: str) -> None:
    database.create_database(url)
    env = dict(os.environ, DATABASE_URL=url, DJANGO_SETTINGS_MODULE="project.settings")
    database.migrate(env)
    os.environ.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="project.settings")
    import django

    django.setup()


async def append(conn: psycopg.AsyncConnection[Any], count: int, topic: str) -> None:
    """Commit ``count`` events, in transactions of BATCH, on ``topic`` (``%`` numbers it)."""
    left = count
    while left > 0:
        n = min(BATCH, left)
        await conn.execute(
            "SELECT realtime_append_event_v1(ARRAY[replace(%(topic)s, '%%', (i %% 100)::text)],"
            " 'bench', jsonb_build_object('i', i)) FROM generate_series(1, %(n)s) i",
            {"topic": topic, "n": n},
        )
        left -= n


async def clear(conn: psycopg.AsyncConnection[Any]) -> None:
    tables = await conn.execute(
        "SELECT string_agg(quote_ident(relname), ', ') FROM pg_class"
        " WHERE relname IN ('listener_event', 'listener_event_topic') AND relkind = 'r'"
    )
    row = await tables.fetchone()
    assert row is not None
    await conn.execute("TRUNCATE %s" % row[0])


async def timed_steps(listener: Any, conn: psycopg.AsyncConnection[Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await listener.step(conn)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


async def steps_beside_open_transaction(url: str, sizes: list[int], runs: int) -> None:
    from listener.log import cursors, listen

    received: list[Any] = []
    async with (
        await psycopg.AsyncConnection.connect(url, autocommit=True) as writer,
        await psycopg.AsyncConnection.connect(url, autocommit=True) as conn,
        await psycopg.AsyncConnection.connect(url) as held,
    ):
        await clear(writer)
        # A write transaction left open, as psql in BEGIN after an UPDATE.
        await held.execute("SELECT realtime_append_event_v1(ARRAY['room_held'], 'held', '{}')")
        row = await (await conn.execute("SELECT pg_current_snapshot()::text")).fetchone()
        assert row is not None
        listener = listen.Listener(received.append, since=cursors.Snapshot.parse(row[0]))
        total = 0
        for size in sizes:
            await append(writer, size - total, "room_other_%")
            total = size
            await writer.execute("ANALYZE listener_event")
            await listener.step(conn)  # catch up
            empty = await timed_steps(listener, conn, runs)
            one = []
            for _ in range(runs):
                await append(writer, 1, "room_live")
                started = time.perf_counter()
                await listener.step(conn)
                one.append(time.perf_counter() - started)
            print(
                "open transaction, %7d events elsewhere: empty step %6.2f ms, step with 1 event %6.2f ms"
                % (size, empty, statistics.median(one) * 1000),
                flush=True,
            )
        await held.commit()
        received.clear()
        await listener.step(conn)
        assert [e.type for e in received] == ["held"], received


async def commit_to_dispatch(url: str, elsewhere: int, runs: int) -> None:
    """A running listener (LISTEN, woken by NOTIFY): from a writer's commit to the sink."""
    from listener.log import listen

    arrived: dict[int, float] = {}
    waiter: dict[str, asyncio.Future[None]] = {}

    def sink(event: Any) -> None:
        if event.type == "probe":
            arrived[event.kwargs["i"]] = time.perf_counter()
            waiter["next"].set_result(None)

    async with (
        await psycopg.AsyncConnection.connect(url, autocommit=True) as writer,
        await psycopg.AsyncConnection.connect(url) as held,
    ):
        await clear(writer)
        await held.execute("SELECT realtime_append_event_v1(ARRAY['room_held'], 'held', '{}')")
        await append(writer, elsewhere, "room_other_%")
        await writer.execute("ANALYZE listener_event")
        listener = listen.Listener(sink)
        listener.start()
        await asyncio.wait_for(listener.ready.wait(), 30)
        lags = []
        try:
            for i in range(runs):
                waiter["next"] = asyncio.get_running_loop().create_future()
                started = time.perf_counter()
                await writer.execute(
                    "SELECT realtime_append_event_v1(ARRAY['room_live'], 'probe',"
                    " jsonb_build_object('i', %s))",
                    [i],
                )
                await asyncio.wait_for(waiter["next"], 30)
                lags.append(arrived[i] - started)
        finally:
            await listener.stop()
            await held.rollback()
    print(
        "open transaction, %7d events elsewhere: commit to dispatch median %.2f ms (%d runs)"
        % (elsewhere, statistics.median(lags) * 1000, runs),
        flush=True,
    )


async def replay(conn: psycopg.AsyncConnection[Any], topic: str, since: str, until: str) -> int:
    """The consumer's replay loop: pages of REALTIME_REPLAY_PAGE until a short one."""
    from listener import queries

    after_xid, after_id, page, count = "0", 0, 500, 0
    while True:
        cur = await conn.execute(
            queries.get("replay_page"),
            {
                "topics": [topic],
                "since": since,
                "until": until,
                "after_xid": after_xid,
                "after_id": after_id,
                "limit": page,
            },
        )
        rows = await cur.fetchall()
        count += len(rows)
        if rows:
            after_xid, after_id = rows[-1][1], rows[-1][0]
        if len(rows) < page:
            return count


async def snapshot(conn: psycopg.AsyncConnection[Any]) -> str:
    row = await (await conn.execute("SELECT pg_current_snapshot()::text")).fetchone()
    assert row is not None
    return str(row[0])


async def resuming_pages(url: str, elsewhere: int, crowd: int, runs: int) -> None:
    # Django sends its queries with the values inlined (client-side binding): do the same.
    async def connect() -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            url, autocommit=True, cursor_factory=psycopg.AsyncClientCursor
        )

    async with await connect() as writer:
        await clear(writer)
        since = await snapshot(writer)
        # The rooms' own events are spread among the others'.
        for _ in range(10):
            await append(writer, elsewhere // 10, "room_other_%")
            for room in range(crowd):
                await append(writer, 1, "room_mine_%d" % room)
        await writer.execute("ANALYZE listener_event")
        await writer.execute(
            "DO $$ BEGIN IF to_regclass('listener_event_topic') IS NOT NULL THEN"
            " ANALYZE listener_event_topic; END IF; END $$"
        )
        until = await snapshot(writer)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            assert await replay(writer, "room_mine_0", since, until) == 10
            times.append(time.perf_counter() - started)
        print(
            "one page resuming over its room's 10 events among %d others: %.2f ms (median of %d)"
            % (elsewhere, statistics.median(times) * 1000, runs),
            flush=True,
        )
    if crowd == 1:
        return
    pages = [await connect() for _ in range(crowd)]
    try:
        started = time.perf_counter()
        counts = await asyncio.gather(
            *(replay(conn, "room_mine_%d" % i, since, until) for i, conn in enumerate(pages))
        )
        wall = time.perf_counter() - started
        assert counts == [10] * crowd, counts
    finally:
        for conn in pages:
            await conn.close()
    print("%d pages resuming at once among %d others: %.2f s" % (crowd, elsewhere, wall), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a Postgres database to use (created and migrated)")
    parser.add_argument("--quick", action="store_true", help="smaller log, fewer runs")
    args = parser.parse_args()
    url = args.url or bench_url()
    setup(url)
    sizes = [0, 20_000, 100_000] if not args.quick else [0, 20_000]
    runs = 3 if args.quick else 20
    asyncio.run(steps_beside_open_transaction(url, sizes, runs))
    asyncio.run(commit_to_dispatch(url, 200_000 if not args.quick else 20_000, runs))
    asyncio.run(resuming_pages(url, 100_000, 1, runs))
    asyncio.run(resuming_pages(url, 200_000 if not args.quick else 20_000, 80, 1))


if __name__ == "__main__":
    main()

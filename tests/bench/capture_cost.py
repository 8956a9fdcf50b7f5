"""Where a captured write's cost goes: one writer's inserts, plain against each layer of capture.

``python -m tests.bench.capture_cost [--inserts 2000] [--rounds 3]``: one connection in
autocommit (NOTIFY off, as the project's writers), single-row inserts into, in turn:
``plain`` (chat_chatmessage's copy without triggers), ``capture`` (chat_chatmessage: the
generated trigger, pgtrigger's ignore check, ``realtime_append_event_v2``, the log row and the
topic index trigger), ``no topic index`` (the same with the log's topic index trigger disabled)
and ``one insert`` (a trigger that inserts the log row itself: no ignore check, no nested call;
``tests/bench/capture_cost.sql``). Prints µs per insert (median over rounds) and the ratio of
each rate to plain's. The Postgres server must be one this script may create a database on.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import time

import psycopg

from tests.bench import database, run

VARIANTS = ("plain", "capture", "no topic index", "one insert")
TABLES = {
    "plain": database.PLAIN_TABLE,
    "capture": "chat_chatmessage",
    "no topic index": "chat_chatmessage",
    "one insert": "bench_inline_chatmessage",
}
INSERT = "INSERT INTO %s (room_id, sender_id, posted, message) VALUES (%%s, %%s, now(), %%s)"


def slice_us(conn: psycopg.Connection, variant: str, count: int, room: int, sender: int) -> float:
    """µs per insert over ``count`` single-row transactions into ``variant``'s table."""
    topic_index = "DISABLE" if variant == "no topic index" else "ENABLE"
    conn.execute("ALTER TABLE listener_event %s TRIGGER realtime_index_event_topics" % topic_index)
    statement = INSERT % TABLES[variant]
    started = time.perf_counter()
    for _ in range(count):
        conn.execute(statement, (room, sender, "x" * 100), prepare=True)
    return (time.perf_counter() - started) * 1e6 / count


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.capture_cost", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", run.DEFAULT_URL))
    parser.add_argument("--inserts", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    _, fixtures = run.single_server(args.database_url, "daphne", "1", 1, 1)
    room, sender = fixtures["room_id"], fixtures["sender_id"]
    found: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute("SET realtime.notify = 'off'")
        conn.execute((pathlib.Path(__file__).with_suffix(".sql")).read_text())
        try:
            for _ in range(args.rounds):
                for variant in VARIANTS:
                    found[variant].append(slice_us(conn, variant, args.inserts, room, sender))
        finally:
            conn.execute("ALTER TABLE listener_event ENABLE TRIGGER realtime_index_event_topics")
    plain = statistics.median(found["plain"])
    print("1 writer, %d inserts x %d rounds: µs per insert (rate vs plain)" % (args.inserts, args.rounds))
    for variant, values in found.items():
        us = statistics.median(values)
        runs = ", ".join("%.1f" % v for v in values)
        print("  %-15s %6.1f µs  %.2fx  (%s)" % (variant, us, plain / us, runs))


if __name__ == "__main__":
    main()

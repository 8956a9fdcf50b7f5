"""Where a captured write's cost goes: one writer's inserts, plain against each layer of capture.

``python -m bench.capture_cost [--inserts 2000] [--rounds 3] [--async-commit] [--bulk 20000]``:
one connection in autocommit (NOTIFY off, as the project's writers), single-row inserts into, in turn:
``plain`` (chat_chatmessage's copy without triggers), ``capture`` (chat_chatmessage: the
generated trigger, pgtrigger's ignore check, ``realtime_append_event_v2`` and the log row with
its three index entries; a message has one topic, so the log's topic trigger does not fire;
``pgtrigger.ignore`` set to '{}' as the project's sessions have it), ``capture, ignore unset``
(the same in a session that never set ``pgtrigger.ignore``, as psql's: pgtrigger's check then
raises and catches an error per row) and ``one insert`` (a trigger that inserts the log row
itself: no ignore check, no nested call; ``bench/capture_cost.sql``). Then the same
variants as one statement of ``--bulk`` rows each (a bulk_create, a data migration), where the
unset ignore check costs most: its caught error per row grows dearer with the rows already
written in the transaction. Prints µs per insert (median over rounds) and the ratio of
each rate to plain's. The Postgres server must be one this script may create a database on.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import time

import psycopg

from bench import database, rig

TABLES = {
    "plain": database.PLAIN_TABLE,
    "capture": "chat_chatmessage",
    "capture, ignore unset": "chat_chatmessage",
    "one insert": "bench_inline_chatmessage",
}
INSERT = "INSERT INTO %s (room_id, sender_id, posted, message) VALUES (%%s, %%s, now(), %%s)"
BULK = (
    "INSERT INTO %s (room_id, sender_id, posted, message)"
    " SELECT %%s, %%s, now(), %%s FROM generate_series(1, %%s)"
)


def slice_us(conn: psycopg.Connection, variant: str, count: int, room: int, sender: int) -> float:
    """µs per insert over ``count`` single-row transactions into ``variant``'s table."""
    # NULL resets the setting to the session's start value: unset, as in psql.
    ignore = None if variant == "capture, ignore unset" else "{}"
    conn.execute("SELECT set_config('pgtrigger.ignore', %s, false)", (ignore,))
    statement = INSERT % TABLES[variant]
    started = time.perf_counter()
    for _ in range(count):
        conn.execute(statement, (room, sender, "x" * 100), prepare=True)
    return (time.perf_counter() - started) * 1e6 / count


def bulk_us(conn: psycopg.Connection, variant: str, count: int, room: int, sender: int) -> float:
    """µs per row of one statement inserting ``count`` rows (a bulk_create, a data migration)."""
    ignore = None if variant == "capture, ignore unset" else "{}"
    conn.execute("SELECT set_config('pgtrigger.ignore', %s, false)", (ignore,))
    started = time.perf_counter()
    conn.execute(BULK % TABLES[variant], (room, sender, "x" * 100, count))
    return (time.perf_counter() - started) * 1e6 / count


def report(title: str, found: dict[str, list[float]]) -> None:
    plain = statistics.median(found["plain"])
    print(title)
    for variant, values in found.items():
        us = statistics.median(values)
        runs = ", ".join("%.1f" % v for v in values)
        print("  %-22s %6.1f µs  %.2fx  (%s)" % (variant, us, plain / us, runs))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.capture_cost", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", rig.DEFAULT_URL))
    parser.add_argument("--inserts", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--async-commit",
        action="store_true",
        help="commit without waiting for the WAL flush: the CPU cost alone, without the disk's noise",
    )
    parser.add_argument("--bulk", type=int, default=20000, help="rows of the one-statement inserts (0: none)")
    args = parser.parse_args()
    _, fixtures = rig.single_server(args.database_url, "daphne", "1", 1, 1)
    room, sender = fixtures["room_id"], fixtures["sender_id"]
    found: dict[str, list[float]] = {variant: [] for variant in TABLES}
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute("SET realtime.notify = 'off'")
        if args.async_commit:
            conn.execute("SET synchronous_commit = off")
        conn.execute((pathlib.Path(__file__).with_suffix(".sql")).read_text())
        for _ in range(args.rounds):
            for variant in TABLES:
                found[variant].append(slice_us(conn, variant, args.inserts, room, sender))
        bulk: dict[str, list[float]] = {variant: [] for variant in TABLES}
        for _ in range(args.rounds if args.bulk else 0):
            for variant in TABLES:
                bulk[variant].append(bulk_us(conn, variant, args.bulk, room, sender))
    report(
        "1 writer, %d inserts x %d rounds%s: µs per insert (rate vs plain)"
        % (args.inserts, args.rounds, ", synchronous_commit off" if args.async_commit else ""),
        found,
    )
    if args.bulk:
        title = "one statement of %d rows x %d rounds: µs per row (rate vs plain)"
        report(title % (args.bulk, args.rounds), bulk)


if __name__ == "__main__":
    main()

"""Writer processes: paced messages for the latency figures, flat-out inserts for the write cost.

Every message is its own transaction. The commit time is taken just after COMMIT returns;
the message text carries the sequence number ("s<seq>:" then padding to a fixed size).
"""

from __future__ import annotations

import array
import multiprocessing.connection
import multiprocessing.queues
import multiprocessing.synchronize
import os
import time
from collections.abc import Callable
from typing import Any

MESSAGE_SIZE = 100
PLAIN_TABLE = "bench_plain_chatmessage"
INSERT = "INSERT INTO %s (room_id, sender_id, posted, message) VALUES (%%s, %%s, now(), %%s)"

# Write-cost modes: raw SQL isolates what the database pays; the ORM pair compares the designs
# as an application writes (ours: create(); the article's: save() with group_send). "quiet" is
# ours with REALTIME_NOTIFY = "off" (the session sets realtime.notify = 'off': no NOTIFY).
MODES = {
    "sql_plain": "INSERT into the same table without triggers",
    "sql_triggers": "INSERT into chat_chatmessage (row trigger: log row + NOTIFY)",
    "sql_triggers_quiet": 'the same with REALTIME_NOTIFY = "off" (log row, no NOTIFY)',
    "orm_ours": "ChatMessage.objects.create() (our triggers, NOTIFY)",
    "orm_ours_quiet": 'ChatMessage.objects.create() with REALTIME_NOTIFY = "off"',
    "orm_baseline": "BaselineMessage.save() + group_send via channels-redis (the article)",
}


def text(seq: int) -> str:
    head = "s%d:" % seq
    return head + "x" * (MESSAGE_SIZE - len(head))


def _django(settings_module: str, url: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()


def paced_main(
    conn: multiprocessing.connection.Connection,
    settings_module: str,
    url: str,
    room_id: int,
    sender_id: int,
    env: dict[str, str],
) -> None:
    """A persistent writer: ("write", first_seq, count, rate) answers with the commit times."""
    os.environ.update(env)
    _django(settings_module, url)
    if settings_module == "bench.baseline.settings":
        from bench.baseline import models as baseline_models

        def write(seq: int) -> float:
            message = baseline_models.BaselineMessage(room_id=room_id, sender_id=sender_id, message=text(seq))
            message.save()
            return message.committed_at

    else:
        from chat import models as chat_models

        def write(seq: int) -> float:
            chat_models.ChatMessage.objects.create(room_id=room_id, sender_id=sender_id, message=text(seq))
            return time.monotonic()

    conn.send("ready")
    while True:
        command = conn.recv()
        if command[0] == "stop":
            return
        _, first, count, rate = command
        committed = array.array("d")
        start = time.monotonic()
        for i in range(count):
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            committed.append(write(first + i))
        conn.send(committed.tobytes())


def throughput_main(
    schedule: list[str],
    url: str,
    room_id: int,
    sender_id: int,
    seconds: float,
    barrier: multiprocessing.synchronize.Barrier,
    results: multiprocessing.queues.Queue[dict[str, int]],
    env: dict[str, str],
) -> None:
    """Insert flat out in each mode of ``schedule`` for ``seconds``, all writers in step.

    Modes are interleaved in short slices, so that load from outside the benchmark falls on
    every mode alike. Answers with the inserts done per mode.
    """
    os.environ.update(env)
    _django("bench.baseline.settings", url)
    import psycopg
    from django.db import connection

    from bench.baseline import models as baseline_models
    from chat import models as chat_models

    loud = psycopg.connect(url, autocommit=True)
    quiet = psycopg.connect(url, autocommit=True)
    quiet.execute("SET realtime.notify = 'off'")

    def sql(conn: psycopg.Connection[Any], table: str) -> Callable[[int], None]:
        statement = INSERT % table

        def insert(seq: int) -> None:
            conn.execute(statement, (room_id, sender_id, text(seq)), prepare=True)

        return insert

    def orm() -> Callable[[int], None]:
        def write(seq: int) -> None:
            chat_models.ChatMessage.objects.create(room_id=room_id, sender_id=sender_id, message=text(seq))

        return write

    def baseline(seq: int) -> None:
        baseline_models.BaselineMessage(room_id=room_id, sender_id=sender_id, message=text(seq)).save()

    writes = {
        "sql_plain": sql(loud, PLAIN_TABLE),
        "sql_triggers": sql(loud, "chat_chatmessage"),
        "sql_triggers_quiet": sql(quiet, "chat_chatmessage"),
        "orm_ours": orm(),
        "orm_ours_quiet": orm(),
        "orm_baseline": baseline,
    }
    for write in writes.values():
        write(0)  # connect and warm up before the clock starts
    done = dict.fromkeys(writes, 0)
    for mode in schedule:
        write = writes[mode]
        with connection.cursor() as cur:
            # What REALTIME_NOTIFY = "off" does to the project's own connections.
            cur.execute("SET realtime.notify = %s", ["off" if mode == "orm_ours_quiet" else "on"])
        barrier.wait()
        count = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            write(count)
            count += 1
        done[mode] += count
    results.put(done)

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

MESSAGE_SIZE = 100
PLAIN_TABLE = "bench_plain_chatmessage"
INSERT = "INSERT INTO %s (room_id, sender_id, posted, message) VALUES (%%s, %%s, now(), %%s)"

# Write-cost modes: raw SQL isolates what the database pays; the ORM pair compares the designs
# as an application writes (ours: create(); the article's: save() with group_send).
MODES = {
    "sql_triggers": "INSERT into chat_chatmessage (row trigger: log row + NOTIFY)",
    "sql_plain": "INSERT into the same table without triggers",
    "orm_ours": "ChatMessage.objects.create() (our triggers)",
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
    design: str,
    url: str,
    room_id: int,
    sender_id: int,
    env: dict[str, str],
) -> None:
    """A persistent writer: ("write", first_seq, count, rate) answers with the commit times."""
    os.environ.update(env)
    if design == "baseline":
        _django("tests.bench.baseline.settings", url)
        from tests.bench.baseline import models as baseline_models

        def write(seq: int) -> float:
            message = baseline_models.BaselineMessage(room_id=room_id, sender_id=sender_id, message=text(seq))
            message.save()
            return message.committed_at

    else:
        _django("project.settings", url)
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
    mode: str,
    url: str,
    room_id: int,
    sender_id: int,
    duration: float,
    barrier: multiprocessing.synchronize.Barrier,
    results: multiprocessing.queues.Queue[int],
    env: dict[str, str],
) -> None:
    """Insert flat out for ``duration`` seconds after every writer is ready; the count."""
    os.environ.update(env)
    if mode == "orm_baseline":
        _django("tests.bench.baseline.settings", url)
        from tests.bench.baseline import models as baseline_models

        def write(seq: int) -> None:
            baseline_models.BaselineMessage(room_id=room_id, sender_id=sender_id, message=text(seq)).save()

    elif mode == "orm_ours":
        _django("project.settings", url)
        from chat import models as chat_models

        def write(seq: int) -> None:
            chat_models.ChatMessage.objects.create(room_id=room_id, sender_id=sender_id, message=text(seq))

    else:
        import psycopg

        conn = psycopg.connect(url, autocommit=True)
        statement = INSERT % ("chat_chatmessage" if mode == "sql_triggers" else PLAIN_TABLE)

        def write(seq: int) -> None:
            conn.execute(statement, (room_id, sender_id, text(seq)), prepare=True)

    write(0)  # connect and warm up before the clock starts
    barrier.wait()
    done = 0
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        write(done)
        done += 1
    results.put(done)

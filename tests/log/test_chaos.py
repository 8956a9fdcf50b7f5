"""Randomized, time-bounded chaos: concurrent writers, dropped sockets, killed listener
connections and a slow reader. Every page must end with exactly the events it is entitled to."""

from __future__ import annotations

import asyncio
import collections
import random

import psycopg
import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User

from chat import models
from listener.log import rendering
from tests import servers
from tests.conftest import session_cookie
from tests.pages import Page

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS = 4
TRANSACTIONS_PER_WRITER = 100
JOIN_REQUESTS = 12
SEED = random.randrange(1_000_000)


def setup_world(room: models.ChatRoom) -> tuple[list[User], list[User], str]:
    members = [User.objects.create_user("member%d" % i) for i in range(5)]
    room.member_set.add(*members)
    askers = [User.objects.create_user("asker%d" % i) for i in range(JOIN_REQUESTS)]
    with rendering.consistent_read() as cursor:
        pass
    return members, askers, cursor


async def writer(number: int, room_id: int, sender_id: int, rng: random.Random) -> list[str]:
    """Commits messages, some several to a transaction, with random pauses; returns them in commit order."""
    written = []
    async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as conn:
        for txn in range(TRANSACTIONS_PER_WRITER):
            texts = ["w%d t%d m%d" % (number, txn, i) for i in range(rng.choice([1, 1, 1, 2, 3]))]
            while True:
                try:
                    async with conn.transaction():
                        for text in texts:
                            await conn.execute(
                                "INSERT INTO chat_chatmessage (room_id, sender_id, message)"
                                " VALUES (%s, %s, %s)",
                                (room_id, sender_id, text),
                            )
                    break
                except psycopg.OperationalError:
                    # Our own connection was killed by the chaos; reconnect and retry (the
                    # transaction did not commit: its events never existed).
                    conn = await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True)
            written.extend(texts)
            await asyncio.sleep(rng.uniform(0, 0.08))
    return written


async def asker(room_id: int, askers: list[User]) -> None:
    async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as conn:
        for user in askers:
            await conn.execute(
                "INSERT INTO chat_chatroomjoinrequest (user_id, room_id) VALUES (%s, %s)", (user.id, room_id)
            )
            await asyncio.sleep(0.05)


async def chaos(
    page_list: list[Page], stop: asyncio.Event, rng: random.Random, counts: collections.Counter
) -> None:
    async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as admin:
        while not stop.is_set():
            await asyncio.sleep(rng.uniform(0.02, 0.15))
            if rng.random() < 0.25:
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'realtime-listener' AND datname = current_database()"
                )
                counts["listener kills"] += 1
            else:
                await rng.choice(page_list).drop()
                counts["socket drops"] += 1


async def test_chaos_every_page_gets_exactly_what_it_is_entitled_to(people, room, capsys):
    rng = random.Random(SEED)
    members, askers, cursor = await database_sync_to_async(setup_world)(room)
    counts: collections.Counter[str] = collections.Counter()
    with servers.daphne(1) as (server,):
        page_list = []
        for user in [people["owner"], *members]:
            cookie = await database_sync_to_async(session_cookie)(user)
            page_list.append(Page(server.ws, "/ws/room/%d" % room.id, cookie, cursor))
        stop = asyncio.Event()
        followers = [
            asyncio.create_task(page.follow(stop, pause=0.02 if i == 1 else 0.0))
            for i, page in enumerate(page_list)
        ]
        chaos_task = asyncio.create_task(chaos(page_list, stop, rng, counts))
        written_lists = await asyncio.wait_for(
            asyncio.gather(
                *(writer(n, room.id, people["owner"].id, random.Random(SEED + n)) for n in range(WRITERS)),
                asker(room.id, askers),
            ),
            timeout=120,
        )
        written = [text for lst in written_lists[:WRITERS] for text in lst]
        stop.set()
        await chaos_task
        await asyncio.gather(*followers)
        # Let every page catch up with what is left, without chaos.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        for page in page_list:
            page_stop = asyncio.Event()
            task = asyncio.create_task(page.follow(page_stop))
            owner = page is page_list[0]
            while loop.time() < deadline and len(page.frames) < len(written) + (
                JOIN_REQUESTS if owner else 0
            ):
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.3)  # anything extra (a duplicate) would arrive now
            page_stop.set()
            await task

    for index, page in enumerate(page_list):
        messages = [f["kwargs"]["message"] for f in page.frames if f["type"] == "chat_message_created"]
        requests = [f for f in page.frames if f["type"] == "did_alter_join_request"]
        assert len(messages) == len(set(messages)), "duplicates on page %d" % index
        assert set(messages) == set(written), "page %d missed %d" % (index, len(set(written) - set(messages)))
        for n in range(WRITERS):
            mine = [m for m in messages if m.startswith("w%d " % n)]
            assert mine == [m for m in written if m.startswith("w%d " % n)], "writer %d out of order" % n
        if index == 0:
            assert len(requests) == JOIN_REQUESTS  # the owner sees join requests...
        else:
            assert requests == []  # ...members never do
    counts["pages"] = len(page_list)
    counts["messages written"] = len(written)
    counts["frames received"] = sum(len(p.frames) for p in page_list)
    counts["reconnects"] = sum(p.connects - 1 for p in page_list)
    with capsys.disabled():
        print("\nchaos seed=%d %s" % (SEED, dict(counts)))

"""No lost events: exact cursors from page render through reconnects and outages.

Real daphne, the real listener, real WebSocket clients, writes from other connections.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import psycopg
import pytest
from channels.db import database_sync_to_async
from django.db import connections

from chat import models
from listener.log import rendering
from tests import servers
from tests.conftest import session_cookie, sync
from tests.pages import Page

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def _daphne(django_db_setup):
    """One server for the module (tests/servers.py's ``reused`` says why that is safe)."""
    with servers.daphne(1) as running:
        yield running[0]


@pytest.fixture
async def server(_daphne, transactional_db):
    yield servers.reused(_daphne)
    await close_pages()


# The pages that page_for opened in the running test. The server outlives the test, so the test's
# end closes them: a socket left open would outlive the test's event loop, reported unclosed.
_opened: list[Page] = []


async def close_pages() -> None:
    while _opened:
        await _opened.pop().drop()


@pytest.fixture
def reconnecting_django(transactional_db):
    """The test kills every backend, this process's too: reconnect before the database flush."""
    yield
    connections.close_all()


async def write(room: models.ChatRoom, sender_id: int, *texts: str) -> None:
    """Commit one message per text, each in its own transaction, from another connection."""
    async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as conn:
        for text in texts:
            await conn.execute(
                "INSERT INTO chat_chatmessage (room_id, sender_id, message) VALUES (%s, %s, %s)",
                (room.id, sender_id, text),
            )


def rendered_cursor(room: models.ChatRoom) -> tuple[list[str], str]:
    """What a room page renders: its messages and the cursor of the same snapshot."""
    with rendering.consistent_read() as cursor:
        shown = list(models.ChatMessage.objects.filter(room=room).values_list("message", flat=True))
    return shown, cursor


def texts(frames: list[dict]) -> list[str]:
    return [f["kwargs"]["message"] for f in frames]


async def page_for(server, people, room, cursor=None) -> Page:
    cookie = await database_sync_to_async(session_cookie)(people["member"])
    page = Page(server.ws, "/ws/room/%d" % room.id, cookie, cursor)
    _opened.append(page)
    await page.open()
    return page


async def test_render_race_event_between_render_and_connect_arrives_once(server, people, room):
    await write(room, people["owner"].id, "before render")
    shown, cursor = await sync(rendered_cursor)(room)
    assert shown == ["before render"]
    await write(room, people["owner"].id, "while the page loads")
    page = await page_for(server, people, room, cursor)
    await write(room, people["owner"].id, "after connect")
    assert texts(await page.receive_many(2)) == ["while the page loads", "after connect"]
    with pytest.raises(TimeoutError):
        await page.receive(timeout=0.5)


async def test_reconnect_gets_exactly_the_missed_frames_in_commit_order(server, people, room):
    page = await page_for(server, people, room)
    await write(room, people["owner"].id, "seen")
    await page.receive()
    await page.drop()
    missed = ["missed %02d" % i for i in range(50)]
    await write(room, people["owner"].id, *missed)
    await page.open()
    await write(room, people["owner"].id, "live again")
    assert texts(await page.receive_many(51)) == [*missed, "live again"]
    with pytest.raises(TimeoutError):
        await page.receive(timeout=0.5)


async def test_transaction_that_commits_late_with_a_lower_xid_is_not_lost(server, people, room):
    url = servers.database_url()
    async with await psycopg.AsyncConnection.connect(url) as slow:
        # A takes its transaction id first...
        await slow.execute(
            "INSERT INTO chat_chatmessage (room_id, sender_id, message) VALUES (%s, %s, 'A')",
            (room.id, people["owner"].id),
        )
        # ...B commits first, and a page renders between the two commits.
        await write(room, people["owner"].id, "B")
        shown, cursor = await sync(rendered_cursor)(room)
        assert shown == ["B"]
        await slow.commit()
    page = await page_for(server, people, room, cursor)
    assert texts(await page.receive_many(1)) == ["A"]
    with pytest.raises(TimeoutError):
        await page.receive(timeout=0.5)


async def test_dropping_in_the_middle_of_a_transaction_resumes_exactly(server, people, room):
    page = await page_for(server, people, room)
    await sync(models.ChatMessage.objects.bulk_create)(
        [models.ChatMessage(room=room, sender=people["owner"], message="bulk %d" % i) for i in range(5)]
    )
    first, second = await page.receive_many(2)
    await page.drop()
    await page.open()
    rest = await page.receive_many(3)
    assert texts([first, second, *rest]) == ["bulk %d" % i for i in range(5)]
    with pytest.raises(TimeoutError):
        await page.receive(timeout=0.5)


async def test_outage_terminating_every_server_connection_loses_nothing(
    reconnecting_django, server, people, room
):
    page = await page_for(server, people, room)
    sent = []
    async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as admin:
        for round_ in range(5):
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            batch = ["outage %d.%d" % (round_, i) for i in range(10)]
            await write(room, people["owner"].id, *batch)
            sent.extend(batch)
    received = await page.receive_many(len(sent), timeout=30)
    assert texts(received) == sent
    with pytest.raises(TimeoutError):
        await page.receive(timeout=0.5)
    # Django's own connections recovered too: the server still answers requests.
    health = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-c",
            "import urllib.request;print(urllib.request.urlopen('%s/health').status)" % server.http,
        ],
        capture_output=True,
        text=True,
    )
    assert health.stdout.strip() == "200"


async def test_pruned_cursor_gets_resync_required(server, people, room):
    page = await page_for(server, people, room)
    await write(room, people["owner"].id, "old")
    await page.receive()
    await page.drop()
    await write(room, people["owner"].id, "pruned away")
    from django.core.management import call_command

    await sync(call_command)("prune_events", "--older-than", "0s")
    await page.open()
    frame = await page.receive()
    assert frame["type"] == "resync_required"
    assert "older" in frame["kwargs"]["reason"]
    import websockets

    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        await page.receive()
    assert closed.value.rcvd.code == 4410

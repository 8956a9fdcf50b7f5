"""The pages in a real browser: every live update, from every write path, against real daphne."""

from __future__ import annotations

import asyncio
import threading
import time

import psycopg
import pytest
from django.contrib.auth.models import User
from playwright.async_api import expect

from chat import models
from tests import servers
from tests.browser.conftest import SERVER_APP_NAME, live, logged_in, restart
from tests.conftest import sync

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


async def test_message_from_one_user_appears_for_the_other(people, room, server, browser):
    owner = await logged_in(browser, server, "olivia")
    member = await logged_in(browser, server, "mo")
    for page in (owner, member):
        await page.goto("/rooms/%d/" % room.id)
        await live(page)

    await member.get_by_role("textbox", name="Message").fill("hello from mo")
    await member.get_by_role("button", name="Send").click()

    for page in (owner, member):
        await expect(page.locator("#messages li")).to_have_count(1)
        await expect(page.locator("#messages li .text")).to_have_text("hello from mo")
        await expect(page.locator("#messages li .sender")).to_have_text("mo")
    await expect(member.get_by_role("textbox", name="Message")).to_have_value("")


async def ask_to_join(page, room: models.ChatRoom) -> None:
    await page.get_by_label("Join code").fill(room.join_code)
    await page.get_by_role("button", name="Ask to join").click()
    await expect(page.locator(".flash")).to_contain_text("Asked to join Lobby")
    await live(page)


@pytest.mark.parametrize("decision", ["Admit", "Deny"])
async def test_join_request_is_decided_live_on_both_pages(people, room, server, browser, decision):
    owner = await logged_in(browser, server, "olivia")
    await owner.goto("/rooms/%d/" % room.id)
    await live(owner)
    requester = await logged_in(browser, server, "otto")

    await ask_to_join(requester, room)
    waiting = owner.locator("#waiting li")
    await expect(waiting).to_have_count(1)
    await expect(waiting).to_contain_text("otto (Otto)")
    await expect(requester.locator("#join-requests li .status")).to_have_text("pending")

    await waiting.get_by_role("button", name=decision).click()

    await expect(waiting).to_have_count(0)
    await expect(owner.locator("#no-waiting")).to_be_visible()
    status = requester.locator("#join-requests li .status")
    if decision == "Admit":
        await expect(owner.locator("#members li.member")).to_have_text(["mo", "otto"])
        await expect(status).to_have_text("admitted")
        await requester.locator("#joined-rooms").get_by_role("link", name="Lobby").click()
        await requester.wait_for_url("**/rooms/%d/" % room.id)
        await live(requester)
    else:
        await expect(status).to_have_text("denied")
        await expect(owner.locator("#members li.member")).to_have_text(["mo"])
        await expect(requester.locator("#joined-rooms").get_by_role("link")).to_have_count(0)


async def test_raw_sql_and_admin_writes_appear_live(people, room, server, browser):
    await sync(User.objects.create_user)("sam", password="pw", is_staff=True, is_superuser=True)
    first = await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="first")
    join_request = await sync(models.ChatRoomJoinRequest.objects.create)(user=people["outsider"], room=room)
    owner = await logged_in(browser, server, "olivia")
    await owner.goto("/rooms/%d/" % room.id)
    await live(owner)
    await expect(owner.locator("#waiting li")).to_have_count(1)

    async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO chat_chatmessage (room_id, sender_id, message) VALUES (%s, %s, %s)",
            (room.id, people["member"].id, "written in psql"),
        )
    texts = owner.locator("#messages li .text")
    await expect(texts).to_have_text(["first", "written in psql"])
    async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as conn:
        await conn.execute("UPDATE chat_chatmessage SET message = 'edited in psql' WHERE message = 'first'")
        await conn.execute(
            "INSERT INTO chat_chatmessage (room_id, sender_id, message) VALUES (%s, %s, 'doomed')",
            (room.id, people["owner"].id),
        )
        await expect(texts).to_have_text(["edited in psql", "written in psql", "doomed"])
        await conn.execute("DELETE FROM chat_chatmessage WHERE message = 'doomed'")
    await expect(texts).to_have_text(["edited in psql", "written in psql"])

    staff = await logged_in(browser, server, "sam")
    await staff.goto("/admin/chat/chatmessage/%d/change/" % first.id)
    await staff.locator("#id_message").fill("edited in the admin")
    await staff.get_by_role("button", name="Save", exact=True).click()
    await expect(texts).to_have_text(["edited in the admin", "written in psql"])

    await staff.goto("/admin/chat/chatroomjoinrequest/%d/change/" % join_request.id)
    await staff.locator("#id_status").select_option("admitted")
    await staff.get_by_role("button", name="Save", exact=True).click()
    await expect(owner.locator("#waiting li")).to_have_count(0)
    await expect(owner.locator("#members li.member")).to_have_text(["mo", "otto"])


async def test_removed_member_sees_lost_access(people, room, server, browser):
    member = await logged_in(browser, server, "mo")
    await member.goto("/rooms/%d/" % room.id)
    await live(member)

    await sync(room.member_set.remove)(people["member"])

    await expect(member.get_by_role("alert")).to_have_text("You no longer have access to this room.")
    await expect(member.get_by_role("button", name="Send")).to_be_disabled()
    await expect(member.locator("#connection")).to_have_attribute("data-state", "stopped")


async def test_user_text_renders_as_text(people, room, server, browser):
    hostile = "<script>window.pwned = 1</script><b>bold</b>"
    owner = await logged_in(browser, server, "olivia")
    member = await logged_in(browser, server, "mo")
    await owner.goto("/rooms/%d/" % room.id)
    await live(owner)
    await member.goto("/rooms/%d/" % room.id)
    await live(member)

    await member.get_by_role("textbox", name="Message").fill(hostile)
    await member.get_by_role("button", name="Send").click()
    await expect(owner.locator("#messages li .text")).to_have_text(hostile)
    await owner.reload()
    await expect(owner.locator("#messages li .text")).to_have_text(hostile)
    for page in (owner, member):
        assert await page.evaluate("window.pwned") is None
        await expect(page.locator("#messages b, #messages script")).to_have_count(0)

    await owner.goto("/")
    await owner.get_by_label("Title").fill(hostile[:50])
    await owner.get_by_role("button", name="Create").click()
    await expect(owner.locator("h1")).to_have_text(hostile[:50])
    assert await owner.evaluate("window.pwned") is None


async def test_every_message_once_in_order_across_dropped_connections(people, room, server, browser):
    """Writes continue while the server's database connections are terminated and the server dies."""
    owner = await logged_in(browser, server, "olivia")
    await owner.goto("/rooms/%d/" % room.id)
    await live(owner)
    expected = ["message %02d" % n for n in range(1, 31)]
    texts = owner.locator("#messages li .text")
    writer = Writer(room.id, people["member"].id, expected)
    await owner.evaluate(
        "window.states = []; document.addEventListener('live:state', (e) => states.push(e.detail))"
    )
    writer.start()
    try:
        await expect(texts.first).to_have_text(expected[0])
        async with await psycopg.AsyncConnection.connect(servers.database_url(), autocommit=True) as conn:
            await conn.execute(TERMINATE_SERVER_CONNECTIONS, {"name": SERVER_APP_NAME})
        await writer.reached(10)
        # The page's own socket drops too: the server process dies and comes back on its port.
        await asyncio.to_thread(restart, server)
        await writer.reached(len(expected))
    finally:
        await asyncio.to_thread(writer.join, 30)
    assert writer.error is None
    await expect(texts).to_have_text(expected)
    await live(owner)
    assert "reconnecting" in await owner.evaluate("window.states")


TERMINATE_SERVER_CONNECTIONS = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND application_name IN (%(name)s, 'realtime-listener')
"""


class Writer(threading.Thread):
    """Inserts messages one by one by raw SQL, on its own connection, while the test breaks things."""

    def __init__(self, room_id: int, sender_id: int, texts: list[str]) -> None:
        super().__init__(daemon=True)
        self.room_id, self.sender_id, self.texts = room_id, sender_id, texts
        self.written = 0
        self.error: BaseException | None = None
        self.finished = False
        self.progress = threading.Condition()

    def run(self) -> None:
        try:
            with psycopg.connect(
                servers.database_url(), autocommit=True, application_name="browser-test-writer"
            ) as conn:
                for text in self.texts:
                    conn.execute(
                        "INSERT INTO chat_chatmessage (room_id, sender_id, message) VALUES (%s, %s, %s)",
                        (self.room_id, self.sender_id, text),
                    )
                    with self.progress:
                        self.written += 1
                        self.progress.notify_all()
                    # Paced, so the writes straddle the breakages below.
                    time.sleep(0.05)
        except BaseException as exc:
            self.error = exc
        finally:
            with self.progress:
                self.finished = True
                self.progress.notify_all()

    def _wait_for(self, count: int, timeout: float) -> bool:
        with self.progress:
            return self.progress.wait_for(lambda: self.written >= count or self.finished, timeout)

    async def reached(self, count: int, timeout: float = 10) -> None:
        assert await asyncio.to_thread(self._wait_for, count, timeout), "writer stuck at %d" % self.written

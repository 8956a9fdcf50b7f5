"""A live region's socket consumed by other projects' own clients, in Chromium: a page that runs
Hotwired Turbo (``<turbo-stream-source>``) and one that runs htmx with its WebSocket extension
(``?swap=htmx``), neither loading the library's client. The pages are an adopting project's views
(``tests/browser/own_clients_urls.py``): data and cursor read in one snapshot, the chat's own
partials, and SQL from outside Django changes them."""

from __future__ import annotations

import asyncio
import collections.abc

import psycopg
import pytest
from django.contrib.auth.models import User
from playwright.async_api import Browser, Page, Route, expect

from chat import models
from tests import servers
from tests.browser.conftest import SERVER_APP_NAME, logged_in
from tests.conftest import sync

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SETTINGS = {"DJANGO_SETTINGS_MODULE": "tests.browser.own_clients_settings", "PGAPPNAME": SERVER_APP_NAME}


@pytest.fixture
def own_server(transactional_db: None, _static_files: None) -> collections.abc.Iterator[servers.Server]:
    with servers.daphne(1, extra_env=SETTINGS) as (one,):
        yield one


def sql(statement: str, *args: object) -> None:
    with psycopg.connect(servers.database_url(), autocommit=True) as conn:
        conn.execute(statement, args)


async def open_with_a_write_first(page: Page, url: str, script: str, room: models.ChatRoom) -> None:
    """Render the page, rename the room by SQL, and only then let the client start: the cursor the
    page was rendered with must bring the rename."""
    held: asyncio.Queue[Route] = asyncio.Queue()
    await page.route("**/" + script, held.put_nowait)
    await page.goto(url, wait_until="commit")
    route = await asyncio.wait_for(held.get(), 8)
    await sync(sql)("UPDATE chat_chatroom SET title = %s WHERE id = %s", "Lounge", room.id)
    await route.continue_()


async def follows_writes_from_sql(page: Page, people: dict[str, User], room: models.ChatRoom) -> None:
    """Every kind of stream the home region sends, each from SQL, each applied once."""
    joined = page.locator("#joined-rooms li[data-room]")
    await expect(joined.get_by_role("link")).to_have_text(["Lounge"])
    den = await sync(models.ChatRoom.objects.create)(owner=people["owner"], title="Den")
    await sync(sql)(
        "INSERT INTO chat_chatroom_member_set (chatroom_id, user_id) VALUES (%s, %s)",
        den.id,
        people["member"].id,
    )
    await expect(joined.get_by_role("link")).to_have_text(["Lounge", "Den"])  # append
    await sync(sql)("UPDATE chat_chatroom SET title = %s WHERE id = %s", "Attic", den.id)
    await expect(joined.get_by_role("link")).to_have_text(["Lounge", "Attic"])  # replace
    made = await sync(models.ChatRoomJoinRequest.objects.create)(user=people["member"], room=den)
    request = page.locator('#join-requests li[data-request="%d"]' % made.id)
    await expect(request.locator(".status")).to_have_text("pending")  # prepend
    await sync(sql)("UPDATE chat_chatroomjoinrequest SET status = 'denied' WHERE id = %s", made.id)
    await expect(request).to_have_attribute("data-status", "denied")
    await sync(sql)("DELETE FROM chat_chatroomjoinrequest WHERE id = %s", made.id)
    await expect(request).to_have_count(0)  # remove
    await sync(sql)("DELETE FROM chat_chatroom_member_set WHERE chatroom_id = %s", room.id)
    await expect(joined.get_by_role("link")).to_have_text(["Attic"])
    assert await page.evaluate("document.querySelectorAll('#joined-rooms li, #join-requests li').length") == 1
    loaded = await page.evaluate("performance.getEntriesByType('resource').map((e) => e.name)")
    assert [url for url in loaded if "/listener/" in url or "/static/" in url] == []


async def test_a_turbo_page_applies_the_region_s_frames(
    people: dict[str, User], room: models.ChatRoom, own_server: servers.Server, browser: Browser
) -> None:
    member = await logged_in(browser, own_server, "mo")
    errors = console_errors(member)
    await open_with_a_write_first(member, "/own-client/turbo/", "vendor/turbo.es2017-esm.js", room)
    await follows_writes_from_sql(member, people, room)
    assert await member.evaluate("typeof window.Turbo.renderStreamMessage") == "function"
    assert await member.evaluate("document.querySelectorAll('turbo-stream').length") == 0
    assert errors == []


async def test_a_turbo_page_with_its_own_socket_resumes(
    people: dict[str, User], room: models.ChatRoom, own_server: servers.Server, browser: Browser
) -> None:
    """`<turbo-stream-source>` never reopens a closed socket; a page script that hands its own to
    `Turbo.connectStreamSource` does, from the last element's cursor."""
    member = await logged_in(browser, own_server, "mo")
    await member.goto("about:blank")  # the home page's own socket ends here
    sockets: list[str] = []
    member.on("websocket", lambda socket: sockets.append(socket.url))
    await open_with_a_write_first(member, "/own-client/turbo-resuming/", "vendor/turbo.es2017-esm.js", room)
    await follows_writes_from_sql(member, people, room)
    await kill_write_restart(own_server, people)
    links = member.locator("#joined-rooms li[data-room]").get_by_role("link")
    await expect(links).to_have_text(["Attic", "Cellar"], timeout=30_000)
    assert await member.evaluate("document.querySelectorAll('#joined-rooms li').length") == 2
    # It reconnected from the last frame's cursor, not the render's.
    cursors = [url.rsplit("cursor=", 1)[1] for url in sockets]
    assert len(cursors) >= 2 and cursors[-1] != cursors[0]


def console_errors(page: Page) -> list[str]:
    """The page's console errors as they come (a client that cannot apply a frame logs one)."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return errors


async def kill_write_restart(server: servers.Server, people: dict[str, User]) -> None:
    """The server dies, a room is added for the member while it is down, and it comes back."""
    server.process.kill()
    server.process.wait(10)
    cellar = await sync(models.ChatRoom.objects.create)(owner=people["owner"], title="Cellar")
    await sync(sql)(
        "INSERT INTO chat_chatroom_member_set (chatroom_id, user_id) VALUES (%s, %s)",
        cellar.id,
        people["member"].id,
    )
    server.process = servers.spawn(server.port, SETTINGS)
    servers.wait_until_up(server)


async def test_an_htmx_page_swaps_the_region_s_frames(
    people: dict[str, User], room: models.ChatRoom, own_server: servers.Server, browser: Browser
) -> None:
    member = await logged_in(browser, own_server, "mo")
    errors = console_errors(member)
    await open_with_a_write_first(member, "/own-client/htmx/", "vendor/htmx-ext-ws.js", room)
    await follows_writes_from_sql(member, people, room)
    assert errors == []  # htmx logs a swap whose target it cannot find

    # The server dies; a write lands meanwhile; htmx reconnects with the last frame's cursor (the
    # page's script), so it gets that write once and nothing it already applied.
    await kill_write_restart(own_server, people)
    links = member.locator("#joined-rooms li[data-room]").get_by_role("link")
    # htmx's own backoff: up to 1 s, then 2 s, 4 s... after each failed attempt.
    await expect(links).to_have_text(["Attic", "Cellar"], timeout=30_000)
    assert await member.evaluate("document.querySelectorAll('#joined-rooms li').length") == 2
    assert await member.evaluate("htmx.version") == "2.0.11"
    # The swaps' wrappers and attributes stay out of the page.
    assert await member.evaluate("document.querySelectorAll('[hx-swap-oob], [data-cursor]').length") == 0


async def test_two_regions_of_one_render_share_a_socket(
    people: dict[str, User], room: models.ChatRoom, own_server: servers.Server, browser: Browser
) -> None:
    """The library's own client, for contrast: one socket carries both regions' streams."""
    member = await logged_in(browser, own_server, "mo")
    await member.goto("about:blank")  # the home page's own socket ends here
    sockets: list[str] = []
    member.on("websocket", lambda socket: sockets.append(socket.url))
    await open_with_a_write_first(member, "/own-client/two-regions/", "listener/live.js", room)
    await expect(member.locator("#joined-room-%d a" % room.id)).to_have_text("Lounge")
    await sync(sql)("DELETE FROM chat_chatroom_member_set WHERE chatroom_id = %s", room.id)
    await expect(member.locator("#joined-room-%d, #notice-%d" % (room.id, room.id))).to_have_count(0)
    assert [url.split("?")[1].split("&")[0] for url in sockets] == ["live=home,notices"]

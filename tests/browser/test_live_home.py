"""The home page as a live region, in Chromium at phone and desktop widths: Turbo Stream elements
from every write path, applied by the library's client with no script of the chat's own."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from django.contrib.auth.models import User
from playwright.async_api import Browser, Route, expect

from chat import models
from tests import servers
from tests.browser.conftest import live, logged_in
from tests.conftest import sync

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sql(statement: str, *args: object) -> None:
    with psycopg.connect(servers.database_url(), autocommit=True) as conn:
        conn.execute(statement, args)


@pytest.mark.parametrize("width", [375, 1280])
async def test_home_region_follows_every_write_exactly_once(
    people: dict[str, User], room: models.ChatRoom, server: servers.Server, browser: Browser, width: int
) -> None:
    member = await logged_in(browser, server, "mo", width=width)
    scripts: list[str] = []
    member.on(
        "request", lambda request: scripts.append(request.url) if request.resource_type == "script" else None
    )

    # Rendered, then a write, then the client starts: the page resumes from its render's cursor.
    held: asyncio.Queue[Route] = asyncio.Queue()
    await member.route("**/listener/live.js", held.put_nowait)
    await member.goto("/", wait_until="commit")  # "load" waits for the held script
    route = await asyncio.wait_for(held.get(), 8)
    await sync(models.ChatRoom.objects.filter(pk=room.pk).update)(title="Lounge")  # update()
    await route.continue_()
    await live(member)
    joined = member.locator("#joined-rooms li[data-room]")
    await expect(joined.get_by_role("link")).to_have_text(["Lounge"])
    await expect(member.locator("#joined-room-%d" % room.id)).to_have_count(1)

    # The user types while the list changes: the input keeps its focus and text.
    code = member.get_by_label("Join code")
    await code.fill("half-typed")
    den = await sync(models.ChatRoom.objects.create)(owner=people["owner"], title="Den")
    await sync(den.member_set.add)(people["member"])  # the ORM
    await expect(joined.get_by_role("link")).to_have_text(["Lounge", "Den"])
    await sync(sql)("UPDATE chat_chatroom SET title = %s WHERE id = %s", "Attic", den.id)  # psql
    await expect(joined.get_by_role("link")).to_have_text(["Lounge", "Attic"])
    await expect(code).to_be_focused()
    await expect(code).to_have_value("half-typed")

    made = await sync(models.ChatRoomJoinRequest.objects.create)(user=people["member"], room=den)
    request = member.locator('#join-requests li[data-request="%d"]' % made.id)
    await expect(request.locator(".status")).to_have_text("pending")
    await expect(member.locator("#join-requests li.empty")).to_be_hidden()
    await sync(sql)("UPDATE chat_chatroomjoinrequest SET status = 'denied' WHERE id = %s", made.id)
    await expect(request).to_have_attribute("data-status", "denied")
    await sync(sql)("DELETE FROM chat_chatroomjoinrequest WHERE id = %s", made.id)
    await expect(request).to_have_count(0)
    await expect(member.locator("#join-requests li.empty")).to_be_visible()

    await sync(sql)("DELETE FROM chat_chatroom_member_set WHERE chatroom_id = %s", room.id)
    await expect(joined.get_by_role("link")).to_have_text(["Attic"])
    # Each change once: no item twice, and nothing from the chat's own scripts on this page.
    assert await member.evaluate("new Set([...document.querySelectorAll('[id]')].map((e) => e.id)).size") == (
        await member.evaluate("document.querySelectorAll('[id]').length")
    )
    assert [url for url in scripts if "/static/chat/" in url] == []
    assert await member.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


async def test_the_client_applies_every_action(
    people: dict[str, User], room: models.ChatRoom, server: servers.Server, browser: Browser
) -> None:
    """update, before, after, remove and a debounced refresh, fed as a page of Turbo would feed them."""
    owner = await logged_in(browser, server, "olivia")
    await live(owner)
    feed = "(text) => import('/static/listener/live.js').then((live) => live.renderStreamMessage(text))"

    def stream(action: str, target: str, body: str = "") -> str:
        return '<turbo-stream action="%s" target="%s"><template>%s</template></turbo-stream>' % (
            action,
            target,
            body,
        )

    heading = owner.locator("#rooms-heading")
    await owner.evaluate(feed, stream("update", "rooms-heading", "Rooms, <em>live</em>"))
    await expect(heading).to_have_text("Rooms, live")
    await owner.evaluate(
        feed,
        stream("before", "owned-rooms", '<p id="above">above</p>')
        + stream("after", "owned-rooms", '<p id="below">below</p>'),
    )
    order = "[...document.querySelectorAll('#above, #owned-rooms, #below')].map((e) => e.id)"
    assert await owner.evaluate(order) == ["above", "owned-rooms", "below"]
    await owner.evaluate(feed, stream("remove", "above") + stream("remove", "below"))
    await expect(owner.locator("#above, #below")).to_have_count(0)

    # Local damage, then a burst of refreshes: one fetch of the page puts the list back.
    await owner.evaluate("document.querySelector('#owned-rooms li[data-room]').remove()")
    fetched: list[str] = []
    owner.on(
        "request", lambda request: fetched.append(request.url) if request.resource_type == "fetch" else None
    )
    await owner.evaluate(feed, stream("refresh", "owned-rooms") * 3)
    await expect(owner.locator("#owned-room-%d a" % room.id)).to_have_text("Lobby")
    assert fetched == [server.http + "/"]

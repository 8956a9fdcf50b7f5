"""Live regions: a region's socket sends Turbo Stream elements for every write path, authorized
by the topic's own consumer, exactly once from the page's render, rendered once per variant."""

from __future__ import annotations

import asyncio
import json
import re

import prometheus_client
import psycopg
import pytest
import websockets.asyncio.client as ws_client
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

import listener
from chat import models
from listener.sockets import region_outbox
from tests import servers
from tests.conftest import close_code, connect, session_cookie, sync

pytestmark = pytest.mark.django_db(transaction=True)

STREAM = re.compile(
    r'<turbo-stream data-cursor="(?P<cursor>[^"]+)" action="(?P<action>[a-z]+)" target="(?P<target>[^"]+)">'
    r"(?:<template>(?P<html>.*?)</template>)?</turbo-stream>",
    re.DOTALL,
)


def home(user: User, cursor: str | None = None) -> str:
    path = "/ws/user/%s?live=home" % user.pk
    return path + ("&cursor=%s" % cursor if cursor else "")


async def streams(communicator: WebsocketCommunicator) -> list[tuple[str, str, str]]:
    """(action, target, template html) of each element of the next frame."""
    text = await communicator.receive_from(timeout=10)
    found = [(m["action"], m["target"], (m["html"] or "").strip()) for m in STREAM.finditer(text)]
    assert found and "".join(m[0] for m in STREAM.finditer(text)) == text, text
    return found


def sql(statement: str, *args: object) -> None:
    """A write from outside Django, as psql makes it."""
    with psycopg.connect(servers.database_url(), autocommit=True) as conn:
        conn.execute(statement, args)


def renders() -> float:
    return prometheus_client.REGISTRY.get_sample_value("realtime_live_renders_total") or 0.0


async def test_every_write_path_changes_the_home_region(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    member, owner = people["member"], people["owner"]
    page, connected, _ = await connect(home(member), member)
    assert connected
    den = await sync(models.ChatRoom.objects.create)(owner=owner, title="Den")
    await sync(den.member_set.add)(member)  # the ORM
    [(action, target, html)] = await streams(page)
    assert (action, target) == ("append", "joined-rooms")
    assert 'id="joined-room-%d"' % den.id in html and ">Den</a>" in html
    assert den.join_code not in html  # the join code is the owner's alone

    await sync(models.ChatRoom.objects.filter(pk=den.pk).update)(title="Attic")  # update()
    [(action, target, html)] = await streams(page)
    assert (action, target) == ("replace", "joined-room-%d" % den.id) and ">Attic</a>" in html

    await sync(sql)("UPDATE chat_chatroom SET title = %s WHERE id = %s", "Loft", den.id)  # raw SQL
    [(action, target, html)] = await streams(page)
    assert (action, target) == ("replace", "joined-room-%d" % den.id) and ">Loft</a>" in html

    await sync(sql)("DELETE FROM chat_chatroom_member_set WHERE chatroom_id = %s", den.id)
    assert await streams(page) == [("remove", "joined-room-%d" % den.id, "")]
    assert await page.receive_nothing(timeout=0.3)
    await page.disconnect()


async def test_join_requests_appear_change_and_go(people: dict[str, User], room: models.ChatRoom) -> None:
    asker = people["outsider"]
    page, connected, _ = await connect(home(asker), asker)
    assert connected
    made = await sync(models.ChatRoomJoinRequest.objects.create)(user=asker, room=room)
    [(action, target, html)] = await streams(page)
    assert (action, target) == ("prepend", "join-requests")
    assert 'id="join-request-%d"' % made.id in html and 'data-status="pending"' in html

    await sync(sql)("UPDATE chat_chatroomjoinrequest SET status = 'denied' WHERE id = %s", made.id)
    [(action, target, html)] = await streams(page)
    assert (action, target) == ("replace", "join-request-%d" % made.id) and 'data-status="denied"' in html

    await sync(models.ChatRoomJoinRequest.objects.filter(pk=made.pk).delete)()
    assert await streams(page) == [("remove", "join-request-%d" % made.id, "")]
    await page.disconnect()


async def test_the_topics_own_rules_authorize_the_region(people: dict[str, User]) -> None:
    """Another user's topic is refused as the JSON socket refuses it; an undeclared region is 4404."""
    page, connected, _ = await connect(home(people["owner"]), people["member"])
    assert connected
    assert await close_code(page) == 4403
    unknown, connected, _ = await connect("/ws/user/%d?live=nowhere" % people["member"].pk, people["member"])
    assert connected
    assert await close_code(unknown) == 4404
    anonymous, connected, _ = await connect(home(people["member"]))
    assert connected
    assert await close_code(anonymous) == 4401


# A second region on the user's topic, for a page that shows both.
listener.Live(
    "test-notices",
    [
        listener.Stream(
            "did_alter_room", when={"action": "leave"}, action="remove", target="notice-{room[id]}"
        )
    ],
)


async def test_regions_on_one_topic_share_a_socket(people: dict[str, User], room: models.ChatRoom) -> None:
    """``?live=a,b``: each event's streams of both regions in one frame, in the order named."""
    member = people["member"]
    page, connected, _ = await connect("/ws/user/%s?live=home,test-notices" % member.pk, member)
    assert connected
    await sync(sql)("DELETE FROM chat_chatroom_member_set WHERE chatroom_id = %s", room.id)
    assert await streams(page) == [
        ("remove", "joined-room-%d" % room.id, ""),
        ("remove", "notice-%d" % room.id, ""),
    ]
    await page.disconnect()
    unknown, connected, _ = await connect("/ws/user/%s?live=home,nowhere" % member.pk, member)
    assert connected
    assert await close_code(unknown) == 4404


def render_home(user: User) -> tuple[str, str]:
    """The home page as the browser gets it: (its HTML, the region's cursor)."""
    client = Client()
    client.force_login(user)
    page = client.get("/").content.decode()
    match = re.search(r'data-live="home" data-socket="[^"]+" data-cursor="([^"]+)"', page)
    assert match, page
    return page, match[1]


async def test_a_write_between_render_and_connect_arrives_once(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    member = people["member"]
    page_html, cursor = await sync(render_home)(member)
    assert 'id="joined-room-%d"' % room.id in page_html
    await sync(models.ChatRoom.objects.filter(pk=room.pk).update)(title="Lounge")  # after the render
    page, connected, _ = await connect(home(member, cursor), member)
    assert connected
    [(action, target, html)] = await streams(page)
    assert (action, target) == ("replace", "joined-room-%d" % room.id) and ">Lounge</a>" in html
    await sync(models.ChatRoom.objects.filter(pk=room.pk).update)(title="Den")  # live, after the replay
    [(action, target, html)] = await streams(page)
    assert ">Den</a>" in html
    assert await page.receive_nothing(timeout=0.5)  # neither write twice
    await page.disconnect()

    # A page rendered after both writes shows them and replays nothing.
    page_html, cursor = await sync(render_home)(member)
    assert ">Den</a>" in page_html
    again, connected, _ = await connect(home(member, cursor), member)
    assert connected
    assert await again.receive_nothing(timeout=0.5)
    await again.disconnect()


async def test_renders_per_event_follow_variants_not_pages(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    """Six member pages and two owner pages: a rename renders twice (member, owner), not eight times."""
    owner, member = people["owner"], people["member"]
    await sync(room.member_set.add)(people["other"])
    pages = []
    for user in [owner, owner, member, member, member, people["other"], people["other"], people["other"]]:
        page, connected, _ = await connect(home(user), user)
        assert connected
        pages.append((user, page))
    before = renders()
    await sync(models.ChatRoom.objects.filter(pk=room.pk).update)(title="Lounge")
    for user, page in pages:
        [(action, target, html)] = await streams(page)
        assert action == "replace" and ">Lounge</a>" in html
        if user == owner:
            assert target == "owned-room-%d" % room.id and room.join_code in html
        else:
            assert target == "joined-room-%d" % room.id and room.join_code not in html
    assert renders() - before == 2
    for _, page in pages:
        await page.disconnect()


# A region that asks for a refresh instead of a fragment: declared here, in the test's process.
REFRESHED = listener.Live(
    "test-refresh",
    [
        listener.Stream(
            "did_alter_room", when={"action": "rename"}, action="refresh", target="room-{room[id]}"
        )
    ],
)


async def test_a_refresh_stream_sends_a_bare_element_without_rendering(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    member = people["member"]
    page, connected, _ = await connect("/ws/user/%d?live=%s" % (member.pk, REFRESHED.name), member)
    assert connected
    before = renders()
    await sync(models.ChatRoom.objects.filter(pk=room.pk).update)(title="Lounge")
    assert await streams(page) == [("refresh", "room-%d" % room.id, "")]
    await sync(models.ChatRoom.objects.create)(owner=member, title="Den")  # "create": no stream applies
    assert await page.receive_nothing(timeout=0.5)
    assert renders() == before
    await page.disconnect()


async def _region(
    server: servers.Server, user: User, cursor: str | None = None, swap: str = "turbo"
) -> ws_client.ClientConnection:
    cookie = (await sync(session_cookie)(user)).decode()
    path = "/ws/user/%s?live=renames&swap=%s%s" % (user.pk, swap, "&cursor=%s" % cursor if cursor else "")
    return await ws_client.connect(
        server.ws + path, additional_headers={"Origin": server.http, "Cookie": cookie}, open_timeout=10
    )


async def _next(socket: ws_client.ClientConnection, timeout: float = 10) -> str:
    text = await asyncio.wait_for(socket.recv(), timeout)
    assert isinstance(text, str)
    return text


async def _nothing(socket: ws_client.ClientConnection, within: float) -> None:
    with pytest.raises(TimeoutError):
        text = await asyncio.wait_for(socket.recv(), within)
        pytest.fail("expected nothing, got %s" % text)


async def test_events_that_change_nothing_move_the_cursor_so_a_reconnect_replays_nothing(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    """Creating rooms reaches the owner's topic but changes nothing in a region that follows only
    renames: no element is sent for them, but a cursor frame says they were seen, and a page that
    reconnects from it gets exactly what it missed."""
    owner = people["owner"]
    extra_env = {"DJANGO_SETTINGS_MODULE": "tests.sockets.quiet_region.settings"}
    with servers.daphne(1, extra_env=extra_env) as (server,):
        page = await _region(server, owner)
        await sync(models.ChatRoom.objects.filter(pk=room.pk).update)(title="Lounge")
        [renamed] = STREAM.finditer(await _next(page))
        assert (renamed["action"], renamed["target"]) == ("refresh", "room-%d" % room.id)

        for title in ("Den", "Attic", "Loft"):  # events on the topic that the region ignores
            await sync(models.ChatRoom.objects.create)(owner=owner, title=title)
        moved = json.loads(await _next(page, region_outbox.CURSOR_DELAY + 5))
        assert moved["type"] == "cursor" and moved["cursor"] != renamed["cursor"]
        await _nothing(page, region_outbox.CURSOR_DELAY + 0.5)  # one cursor frame, not one per event
        await page.close()

        await sync(sql)("UPDATE chat_chatroom SET title = %s WHERE id = %s", "Cellar", room.id)  # while away
        again = await _region(server, owner, moved["cursor"])
        [missed] = STREAM.finditer(await _next(again))
        assert (missed["action"], missed["target"]) == ("refresh", "room-%d" % room.id)
        assert missed["cursor"] not in (renamed["cursor"], moved["cursor"])
        # Neither the rename it had nor the skipped creates come again (a replay that ended on
        # those would be followed by another cursor frame).
        await _nothing(again, region_outbox.CURSOR_DELAY + 1)
        await again.close()

        # From the older cursor the skipped events are replayed (sending nothing), then the missed
        # rename: what the cursor frame saved a reconnecting page from.
        older = await _region(server, owner, renamed["cursor"])
        [replayed] = STREAM.finditer(await _next(older))
        assert replayed["cursor"] == missed["cursor"]
        await older.close()


async def test_an_htmx_page_gets_the_cursor_as_the_element_htmx_swaps_into_nothing(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    owner = people["owner"]
    extra_env = {"DJANGO_SETTINGS_MODULE": "tests.sockets.quiet_region.settings"}
    with servers.daphne(1, extra_env=extra_env) as (server,):
        page = await _region(server, owner, swap="htmx")
        await sync(models.ChatRoom.objects.create)(owner=owner, title="Den")  # changes nothing here
        text = await _next(page, region_outbox.CURSOR_DELAY + 5)
        found = re.fullmatch(r'<template hx-swap-oob="none:body" data-cursor="([^"]+)"></template>', text)
        assert found, text
        await page.close()
        again = await _region(server, owner, found[1], swap="htmx")
        await _nothing(again, region_outbox.CURSOR_DELAY + 1)  # the create is not replayed
        await again.close()


# A region whose template is missing: every render fails.
BROKEN = listener.Live(
    "test-broken",
    [
        listener.Stream(
            "did_alter_room",
            when={"action": "rename"},
            action="replace",
            target="room-{room[id]}",
            template="chat/_no_such_partial.html",
        )
    ],
)


async def test_a_failed_render_sends_nothing_and_keeps_the_cursor_before_it(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    """Unlike an event that changes nothing, one whose render failed gets no cursor frame: a
    reconnect renders it again instead of going past it."""
    member = people["member"]
    page, connected, _ = await connect("/ws/user/%d?live=%s" % (member.pk, BROKEN.name), member)
    assert connected
    await sync(models.ChatRoom.objects.filter(pk=room.pk).update)(title="Lounge")
    assert await page.receive_nothing(timeout=region_outbox.CURSOR_DELAY + 1)
    await page.disconnect()

"""Live regions: a region's socket sends Turbo Stream elements for every write path, authorized
by the topic's own consumer, exactly once from the page's render, rendered once per variant."""

from __future__ import annotations

import functools
import re
from typing import Any

import prometheus_client
import psycopg
import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

import listener
from chat import models
from listener.sockets import fragments, outbox
from tests import servers
from tests.conftest import close_code, connect, sync

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


class _Transport:
    """What daphne's TCP transport tells of its buffer: 95 bytes not yet written."""

    dataBuffer = b"x" * 100
    offset = 10
    _tempDataLen = 5


class _Protocol:
    transport = _Transport()


async def _handle_reply(protocol: _Protocol, message: dict[str, Any]) -> None:
    pass


def test_a_regions_send_still_shows_daphnes_backlog() -> None:
    """The slow rule reads what daphne buffers through the region's send as through the server's."""
    server_send = functools.partial(_handle_reply, _Protocol())
    region_send = fragments.sender({"query_string": b"live=home"}, 1, server_send)
    assert region_send is not server_send
    assert outbox.transport_backlog(region_send) == outbox.transport_backlog(server_send) == 95


@pytest.mark.parametrize("live", [False, True], ids=["json", "region"])
async def test_the_slow_rule_counts_daphnes_backlog_behind_either_send(live: bool) -> None:
    """An outbox counts what daphne still holds as unread frames, whichever send it writes through."""
    server_send = functools.partial(_handle_reply, _Protocol())
    send = fragments.sender({"query_string": b"live=home" if live else b""}, 1, server_send)
    assert (send is not server_send) == live
    box = outbox.Outbox("test", lambda close: None)
    await box.send_now(send, ["x" * 19])  # one frame of 19 characters sent: 95 bytes are 5 frames
    assert box.unread() == 5

"""The room page's online dots follow `sync` frames: several users opening and closing the room
within one batch window, seen in Chromium (tests/browser/conftest.py's fixtures)."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets.asyncio.client as ws_client
from django.contrib.auth.models import User
from playwright.async_api import Browser, expect

from chat import models
from tests import servers
from tests.browser.conftest import SERVER_APP_NAME, _static_files, browser, live, logged_in  # noqa: F401
from tests.conftest import session_cookie, sync

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


async def test_dots_follow_a_crowd_that_opens_and_closes_the_room_together(
    people: dict[str, User],
    room: models.ChatRoom,
    _static_files: None,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    # A window wide enough that the crowd's sockets, opened together, share it on a busy machine.
    env = {"PGAPPNAME": SERVER_APP_NAME, "REALTIME_PRESENCE_WINDOW": "3"}
    with servers.daphne(1, extra_env=env) as (server,):
        await crowd_opens_and_closes(people, room, server, browser)


async def first_presence(socket: ws_client.ClientConnection) -> dict[str, object]:
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), 10))
        if frame["type"] == "did_alter_presence":
            kwargs: dict[str, object] = frame["kwargs"]
            return kwargs


async def crowd_opens_and_closes(
    people: dict[str, User], room: models.ChatRoom, server: servers.Server, chromium: Browser
) -> None:
    crowd = [await sync(User.objects.create_user)(username="crowd%d" % n) for n in range(3)]
    await sync(room.member_set.add)(*crowd)
    owner = await logged_in(chromium, server, "olivia")
    await owner.goto("/rooms/%d/" % room.id)
    await live(owner)
    await expect(owner.locator('#members li[data-user-id="%d"]' % people["owner"].id)).to_have_attribute(
        "data-online", "true"
    )
    dots = [owner.locator('#members li[data-user-id="%d"]' % person.id) for person in crowd]
    # Members added after the render appear through did_alter_membership, without a dot.
    for dot in dots:
        await expect(dot).not_to_have_attribute("data-online", "true")

    async def open_room(person: User) -> ws_client.ClientConnection:
        cookie = (await sync(session_cookie)(person)).decode()
        return await ws_client.connect(
            server.ws + "/ws/room/%d" % room.id,
            additional_headers={"Origin": server.http, "Cookie": cookie},
            open_timeout=10,
        )

    sockets = await asyncio.gather(*(open_room(person) for person in crowd))
    assert (await first_presence(sockets[0]))["action"] == "sync"  # the form under test
    for dot in dots:
        await expect(dot).to_have_attribute("data-online", "true")
    await asyncio.gather(*(socket.close() for socket in sockets))
    for dot in dots:
        await expect(dot).not_to_have_attribute("data-online", "true")
    await expect(owner.locator('#members li[data-user-id="%d"]' % people["owner"].id)).to_have_attribute(
        "data-online", "true"
    )

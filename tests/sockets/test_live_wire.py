"""A live region's frames written for htmx's WebSocket extension (``?swap=htmx``): the same
streams, events and cursors as Turbo's, as out-of-band swaps; an unknown ``?swap=`` is 4400."""

from __future__ import annotations

import re

import psycopg
import pytest
from django.contrib.auth.models import User

from chat import models
from listener.sockets import streams, wire
from tests import servers
from tests.conftest import close_code, connect, sync

pytestmark = pytest.mark.django_db(transaction=True)

CURSOR = re.compile(r'^<template hx-swap-oob="none:body" data-cursor="([^"]+)"></template>')


def sql(statement: str, *args: object) -> None:
    with psycopg.connect(servers.database_url(), autocommit=True) as conn:
        conn.execute(statement, args)


def home(user: User, swap: str) -> str:
    return "/ws/user/%s?live=home&swap=%s" % (user.pk, swap)


async def test_htmx_frames_swap_by_id(people: dict[str, User], room: models.ChatRoom) -> None:
    member, owner = people["member"], people["owner"]
    page, connected, _ = await connect(home(member, "htmx"), member)
    assert connected
    den = await sync(models.ChatRoom.objects.create)(owner=owner, title="Den")
    await sync(sql)(
        "INSERT INTO chat_chatroom_member_set (chatroom_id, user_id) VALUES (%s, %s)", den.id, member.id
    )
    text = await page.receive_from(timeout=10)
    first = CURSOR.match(text)
    assert first is not None, text
    item = f'<li id="joined-room-{den.id}" data-room="{den.id}"><a href="/rooms/{den.id}/">Den</a></li>'
    assert text[first.end() :] == '<div hx-swap-oob="beforeend:#joined-rooms">%s</div>' % item

    await sync(sql)("UPDATE chat_chatroom SET title = %s WHERE id = %s", "Attic", den.id)
    text = await page.receive_from(timeout=10)
    second = CURSOR.match(text)
    assert second is not None and second[1] != first[1]
    # A replace is the rendered element itself, carrying its swap.
    assert text[second.end() :] == (
        '<li hx-swap-oob="outerHTML:#joined-room-%d" id="joined-room-%d" data-room="%d">'
        '<a href="/rooms/%d/">Attic</a></li>' % (den.id, den.id, den.id, den.id)
    )

    await sync(sql)("DELETE FROM chat_chatroom_member_set WHERE chatroom_id = %s", den.id)
    text = await page.receive_from(timeout=10)
    third = CURSOR.match(text)
    assert third is not None
    assert text[third.end() :] == '<template hx-swap-oob="delete:#joined-room-%d"></template>' % den.id
    await page.disconnect()

    # Resuming from the first frame's cursor replays the rest, in htmx's words again.
    again, connected, _ = await connect(home(member, "htmx") + "&cursor=" + first[1], member)
    assert connected
    assert 'hx-swap-oob="outerHTML:#joined-room-%d"' % den.id in await again.receive_from(timeout=10)
    assert 'hx-swap-oob="delete:#joined-room-%d"' % den.id in await again.receive_from(timeout=10)
    await again.disconnect()


async def test_an_unknown_swap_is_refused(people: dict[str, User]) -> None:
    page, connected, _ = await connect(home(people["member"], "jquery"), people["member"])
    assert connected
    assert await close_code(page) == 4400
    turbo, connected, _ = await connect(home(people["member"], "turbo"), people["member"])
    assert connected
    assert await turbo.receive_nothing(timeout=0.3)
    await turbo.disconnect()


def test_each_action_in_htmx_words() -> None:
    """What every action becomes; ids that are not plain CSS names are escaped as CSS.escape does."""
    parts = {
        action: wire.element(wire.Wire.HTMX, action, "list-1", "<p>x</p>", "c") for action in streams.Action
    }
    assert parts == {
        streams.Action.APPEND: '<div hx-swap-oob="beforeend:#list-1"><p>x</p></div>',
        streams.Action.PREPEND: '<div hx-swap-oob="afterbegin:#list-1"><p>x</p></div>',
        streams.Action.BEFORE: '<div hx-swap-oob="beforebegin:#list-1"><p>x</p></div>',
        streams.Action.AFTER: '<div hx-swap-oob="afterend:#list-1"><p>x</p></div>',
        streams.Action.UPDATE: '<div hx-swap-oob="innerHTML:#list-1"><p>x</p></div>',
        streams.Action.REPLACE: '<p hx-swap-oob="outerHTML:#list-1">x</p>',
        streams.Action.REMOVE: '<template hx-swap-oob="delete:#list-1"></template>',
        streams.Action.REFRESH: None,  # htmx has no such swap
    }
    assert wire.element(wire.Wire.HTMX, streams.Action.REMOVE, "7.a&amp;b", "", "c") == (
        '<template hx-swap-oob="delete:#\\37 \\2e a\\26 b"></template>'
    )
    # A table row's part is a table body, so that the HTML parser keeps the row.
    row = '<tr id="row-1"><td>x</td></tr>'
    assert wire.element(wire.Wire.HTMX, streams.Action.APPEND, "rows", row, "c") == (
        '<tbody hx-swap-oob="beforeend:#rows">%s</tbody>' % row
    )
    # Text alone has no element to carry the swap: it becomes the target's content.
    assert wire.element(wire.Wire.HTMX, streams.Action.REPLACE, "n", "3 rooms", "c") == (
        '<div hx-swap-oob="innerHTML:#n">3 rooms</div>'
    )

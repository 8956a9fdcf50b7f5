"""The layer against the Channels layer spec, within one process (other processes: test_layer_processes)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.db import connection

from listener.layer import channel_layer, queued
from listener.log import events
from tests.conftest import sync

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def fresh() -> Any:
    """A layer of its own (not the process's default), closed after the test."""
    made: list[channel_layer.PostgresChannelLayer] = []

    def make(**options: Any) -> channel_layer.PostgresChannelLayer:
        made.append(channel_layer.PostgresChannelLayer(**options))
        return made[-1]

    yield make
    for one in made:
        await one.close()


class Collector:
    """A directly attached receiver, as the real-time consumer is: it never expires."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[events.LogEvent] = asyncio.Queue()

    def deliver(self, event: events.LogEvent) -> None:
        self.events.put_nowait(event)

    def abort(self, reason: str) -> None:
        raise AssertionError(reason)


async def receive(target: Any, channel: str) -> dict[str, Any]:
    result: dict[str, Any] = await asyncio.wait_for(target.receive(channel), 10)
    return result


def _events() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM listener_event")
        found: int = cur.fetchone()[0]
        return found


async def test_named_channel_send_then_receive_keeps_order_and_types(fresh):
    target = fresh()
    sent = [
        {"type": "test.one", "n": i, "blob": bytes([i, 0, 255]), "t": [1.5, None, True]} for i in range(3)
    ]
    for message in sent:
        await target.send("thumbnails", message)
    assert [await receive(target, "thumbnails") for _ in sent] == sent


async def test_receive_waits_for_a_later_send(fresh):
    sender, receiver = fresh(), fresh()
    waiting = asyncio.ensure_future(receive(receiver, "jobs"))
    await asyncio.sleep(0)  # let the receiver start waiting before anything is sent
    await sender.send("jobs", {"type": "job.run", "id": 7})
    assert await waiting == {"type": "job.run", "id": 7}


async def test_process_channel_gets_what_is_sent_to_it(fresh):
    target = fresh()
    channel = await target.new_channel()
    assert channel.startswith("specific.") and "!" in channel
    await target.send(channel, {"type": "hello", "text": "x"})
    assert await receive(target, channel) == {"type": "hello", "text": "x"}


async def test_a_received_message_is_a_copy(fresh):
    target = fresh()
    channel = await target.new_channel()
    message: dict[str, Any] = {"type": "m", "items": [1]}
    await target.send(channel, message)
    message["items"].append(2)
    assert await receive(target, channel) == {"type": "m", "items": [1]}


async def test_two_layers_share_named_channels_each_message_once(fresh):
    first, second = fresh(), fresh()
    for i in range(20):
        await first.send("shared", {"type": "n", "i": i})
    got = await asyncio.gather(*(receive(first if i % 2 else second, "shared") for i in range(20)))
    assert sorted(m["i"] for m in got) == list(range(20))


async def test_channel_full_at_capacity(fresh):
    target = fresh(capacity=2, channel_capacity={"big*": 3})
    await target.send("small", {"type": "a"})
    await target.send("small", {"type": "b"})
    with pytest.raises(ChannelFull):
        await target.send("small", {"type": "c"})
    for _ in range(3):
        await target.send("bigger", {"type": "a"})
    with pytest.raises(ChannelFull):
        await target.send("bigger", {"type": "d"})
    # Taking one makes room for one.
    assert await receive(target, "small") == {"type": "a"}
    await target.send("small", {"type": "c"})
    local = await target.new_channel()
    await target.send(local, {"type": "a"})
    await target.send(local, {"type": "b"})
    with pytest.raises(ChannelFull):
        await target.send(local, {"type": "c"})


async def test_expired_messages_are_dropped(fresh):
    stale, live = fresh(expiry=0), fresh()
    await stale.send("expiring", {"type": "old"})
    await live.send("expiring", {"type": "new"})
    assert await receive(live, "expiring") == {"type": "new"}
    local = await stale.new_channel()
    await stale.send(local, {"type": "old"})
    await live.send(local, {"type": "new"})  # from another layer: through Postgres
    assert await receive(stale, local) == {"type": "new"}


async def test_invalid_names_are_rejected(fresh):
    target = fresh()
    for bad in ["with space", "x" * 120, "tab\t", ""]:
        with pytest.raises(TypeError):
            await target.send(bad, {"type": "x"})
        with pytest.raises(TypeError):
            await target.group_add(bad, "fine")
        with pytest.raises(TypeError):
            await target.group_send(bad, {"type": "x"})
    with pytest.raises(TypeError):
        await target.group_add("fine", "bad channel")
    with pytest.raises(TypeError, match="set"):
        await target.send("fine", {"type": "x", "value": {1, 2}})


async def test_new_channels_are_unique(fresh):
    first, second = fresh(), fresh()
    names = {await first.new_channel() for _ in range(500)} | {await second.new_channel() for _ in range(500)}
    assert len(names) == 1000


async def test_group_send_reaches_members_through_receive_with_one_log_row():
    target = channel_layer.default()
    channels = [await target.new_channel() for _ in range(3)]
    for channel in channels:
        await target.group_add("chat_lobby", channel)
    await target.group_add("chat_lobby", "chat-archive")  # a named channel can be a member too
    before = await sync(_events)()
    await target.group_send("chat_lobby", {"type": "chat.message", "message": "hi", "raw": b"\x00\x01"})
    expected = {"type": "chat.message", "message": "hi", "raw": b"\x00\x01"}
    for channel in [*channels, "chat-archive"]:
        assert await receive(target, channel) == expected
    assert await sync(_events)() == before + 1


def _rows_of(group: str) -> int:
    with connection.cursor() as cur:
        cur.execute('SELECT count(*) FROM listener_groupmember WHERE "group" = %s', [group])
        found: int = cur.fetchone()[0]
        return found


async def test_plain_members_of_a_group_are_one_row_for_other_processes_group_sends():
    """Other processes queue their group_sends for this process's plain members (so they keep
    their place among those processes' sends): one row per group, gone with the last member."""
    target = channel_layer.default()
    first, second = await target.new_channel(), await target.new_channel()
    await target.group_add("rowed", first)
    await target.group_add("rowed", second)
    assert await sync(_rows_of)("rowed") == 1
    await target.group_discard("rowed", first)
    assert await sync(_rows_of)("rowed") == 1
    await target.group_discard("rowed", second)
    assert await sync(_rows_of)("rowed") == 0


def _live_rows_of(group: str) -> int:
    with connection.cursor() as cur:
        cur.execute(
            'SELECT count(*) FROM listener_groupmember WHERE "group" = %s AND expires > clock_timestamp()',
            [group],
        )
        found: int = cur.fetchone()[0]
        return found


def _expire_rows_of(group: str) -> None:
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE listener_groupmember SET expires = clock_timestamp() - interval '1 second'"
            ' WHERE "group" = %s',
            [group],
        )


async def test_a_live_process_renews_the_row_of_its_plain_members(fresh, settings, monkeypatch):
    """The row lasts minutes unless renewed, so a process that dies leaves it that long; one that
    lives renews it (here at once, and after it expired) while the group has members here."""
    settings.REALTIME_POLL_INTERVAL = 0.05
    monkeypatch.setattr(queued, "RENEW_EVERY", 0.0)
    target = fresh()
    member = await target.new_channel()
    await target.group_add("renewed", member)
    await target._inbox.started()
    await sync(_expire_rows_of)("renewed")

    async def renewed() -> None:
        while await sync(_live_rows_of)("renewed") != 1:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(renewed(), 10)
    await target.group_discard("renewed", member)
    assert await sync(_rows_of)("renewed") == 0


async def test_a_triggers_event_still_reaches_plain_members():
    """Only group_sends go by queue; an event a trigger (here, SQL) appends comes from the log."""
    target = channel_layer.default()
    member = await target.new_channel()
    await target.group_add("board_3", member)

    def append() -> None:
        with connection.cursor() as cur:
            cur.execute("SELECT realtime_append_event_v2(ARRAY['board_3'], 'card_moved', '{\"card\": 7}')")

    await sync(append)()
    assert await receive(target, member) == {"type": "card_moved", "card": 7}


async def test_group_discard_stops_delivery():
    target = channel_layer.default()
    kept, dropped = await target.new_channel(), await target.new_channel()
    witness = Collector()
    target.attach("specific.witness!1", witness)
    target.join("room_9", "specific.witness!1")
    for channel in (kept, dropped, "room-9-log"):
        await target.group_add("room_9", channel)
    await target.group_discard("room_9", dropped)
    await target.group_discard("room_9", "room-9-log")
    await target.group_send("room_9", {"type": "note", "n": 1})
    await asyncio.wait_for(witness.events.get(), 10)
    assert await receive(target, kept) == {"type": "note", "n": 1}
    # The listener served every member of this process in one go: nothing came for `dropped`.
    await target.send(dropped, {"type": "marker"})
    assert await receive(target, dropped) == {"type": "marker"}
    await target.send("room-9-log", {"type": "marker"})
    assert await receive(target, "room-9-log") == {"type": "marker"}


async def test_group_memberships_expire(settings):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "listener.layer.PostgresChannelLayer", "CONFIG": {"group_expiry": 0}}
    }
    target = get_channel_layer()
    assert isinstance(target, channel_layer.PostgresChannelLayer) and target.group_expiry == 0
    try:
        member = await target.new_channel()
        await target.group_add("short", member)
        await target.group_add("short", "short-log")
        witness = Collector()
        target.attach("specific.witness!2", witness)
        target.join("short", "specific.witness!2")
        await target.group_send("short", {"type": "late"})
        await asyncio.wait_for(witness.events.get(), 10)
        assert target.members("short") == 1  # only the attached receiver is left
        for channel in (member, "short-log"):
            await target.send(channel, {"type": "marker"})
            assert await receive(target, channel) == {"type": "marker"}
    finally:
        await target.close()


async def test_flush_forgets_messages_and_groups():
    target = channel_layer.default()
    await target.send("to-flush", {"type": "old"})
    member = await target.new_channel()
    await target.group_add("flushed", "flushed-log")
    await target.group_add("flushed", member)
    await target.flush()
    assert target.members("flushed") == 0
    await target.group_send("flushed", {"type": "after"})
    await target.send("to-flush", {"type": "new"})
    assert await receive(target, "to-flush") == {"type": "new"}
    await target.send("flushed-log", {"type": "marker"})
    assert await receive(target, "flushed-log") == {"type": "marker"}


async def test_sync_code_uses_the_layer_as_a_shell_would(fresh):
    """Each async_to_sync call of plain sync code runs on an event loop of its own."""
    target = fresh()

    def shell() -> list[dict[str, Any]]:
        channel = async_to_sync(target.new_channel)()
        async_to_sync(target.send)("shell-jobs", {"type": "job", "n": 1})
        async_to_sync(target.send)(channel, {"type": "reply", "n": 2})
        return [async_to_sync(target.receive)("shell-jobs"), async_to_sync(target.receive)(channel)]

    assert await asyncio.wait_for(asyncio.to_thread(shell), 30) == [
        {"type": "job", "n": 1},
        {"type": "reply", "n": 2},
    ]


async def test_a_thread_with_its_own_loop_shares_the_layer_with_the_main_loop(fresh):
    target = fresh()
    waiting = asyncio.ensure_future(receive(target, "threaded"))
    await asyncio.to_thread(async_to_sync(target.send), "threaded", {"type": "from.thread"})
    assert await waiting == {"type": "from.thread"}
    await target.send("threaded", {"type": "from.main"})
    assert await asyncio.to_thread(async_to_sync(target.receive), "threaded") == {"type": "from.main"}


def _terminate_layer_connections() -> int:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database()"
            " AND application_name IN ('realtime-channel-layer', 'realtime-channel-inbox')"
        )
        killed: int = cur.fetchone()[0]
        return killed


async def test_lost_connections_are_replaced_and_nothing_is_lost(fresh):
    sender, target = fresh(), fresh()
    channel = await target.new_channel()
    await sender.send(channel, {"type": "before"})
    assert await receive(target, channel) == {"type": "before"}
    await sender.send("survivor", {"type": "before"})
    assert await receive(target, "survivor") == {"type": "before"}
    # Both layers' query connections and the receiving inbox's LISTEN connection go away.
    assert await sync(_terminate_layer_connections)() == 3
    await sender.send(channel, {"type": "after"})
    await sender.send("survivor", {"type": "after"})
    assert await receive(target, channel) == {"type": "after"}
    assert await receive(target, "survivor") == {"type": "after"}


async def test_a_cancelled_receive_loses_no_message(fresh):
    """Channels cancels a stopping consumer's receive; whatever it had taken goes back."""
    sender, target = fresh(), fresh()
    await target.send("warm", {"type": "warm"})
    await receive(target, "warm")
    for i in range(20):
        pending = asyncio.ensure_future(target.receive("cancel-me"))
        await sender.send("cancel-me", {"type": "m", "i": i})
        for _ in range(i % 4):
            await asyncio.sleep(0)  # cancel at different points of the claim
        pending.cancel()
        try:
            got = await pending
        except asyncio.CancelledError:
            got = await receive(target, "cancel-me")
        assert got == {"type": "m", "i": i}


async def test_memberships_of_other_processes_channels_are_kept_in_postgres(fresh):
    here, there = fresh(), fresh()  # two layers: each one's channels are foreign to the other
    kept, dropped = await there.new_channel(), await there.new_channel()
    await here.group_add("remote", kept)
    await here.group_add("remote", dropped)
    await here.group_discard("remote", dropped)
    await here.group_send("remote", {"type": "note"})
    assert await receive(there, kept) == {"type": "note"}
    # The group_send queued its rows before returning: a marker sent after it comes first.
    await here.send(dropped, {"type": "marker"})
    assert await receive(there, dropped) == {"type": "marker"}

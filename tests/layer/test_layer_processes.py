"""The layer across real separate processes (``tests.layer_peer``), with no ASGI server in them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from listener.layer import channel_layer
from tests.layer_peers import Peer, run

pytestmark = pytest.mark.django_db(transaction=True)


async def _receive(channel: str) -> dict[str, Any]:
    result: dict[str, Any] = await asyncio.wait_for(channel_layer.default().receive(channel), 30)
    return result


async def test_a_named_channel_reaches_a_receiver_in_another_process():
    target = channel_layer.default()
    await target.send("thumbnails", {"type": "thumbnail.make", "id": 1})
    peer = await Peer.start("receive", "thumbnails", "2")
    try:
        assert await peer.ready() == "thumbnails"
        assert await peer.got() == {"type": "thumbnail.make", "id": 1}
        # A send after the peer waits wakes it (NOTIFY), rather than sitting in the table.
        await target.send("thumbnails", {"type": "thumbnail.make", "id": 2, "data": "x" * 10_000})
        assert await peer.got() == {"type": "thumbnail.make", "id": 2, "data": "x" * 10_000}
        await peer.finish()
    finally:
        peer.kill()


async def test_a_named_channel_gives_each_message_to_one_of_two_processes():
    target = channel_layer.default()
    count = 60
    peers = [await Peer.start("drain", "work-queue") for _ in range(2)]
    try:
        for peer in peers:
            await peer.ready()
        for i in range(count):
            await target.send("work-queue", {"type": "job", "i": i})
        got: list[list[int]] = [[], []]

        async def collect(index: int) -> None:
            while sum(len(g) for g in got) < count:
                message = await peers[index].got()
                got[index].append(message["i"])

        collectors = [asyncio.ensure_future(collect(i)) for i in (0, 1)]
        _, pending = await asyncio.wait(collectors, timeout=60, return_when="FIRST_COMPLETED")
        for task in pending:
            task.cancel()
        assert sorted(got[0] + got[1]) == list(range(count))
        # Each peer stops at its first `stop`; the one left running takes the second.
        for _ in peers:
            await target.send("work-queue", {"type": "stop"})
        for peer in peers:
            await peer.finish()
    finally:
        for peer in peers:
            peer.kill()


async def test_another_process_reads_its_own_channel():
    peer = await Peer.start("new", "1")
    try:
        channel = await peer.ready()
        assert channel.startswith("specific.")
        assert channel != await channel_layer.default().new_channel()
        await channel_layer.default().send(channel, {"type": "reply", "bytes": b"\xff"})
        assert await peer.got() == {"type": "reply", "bytes": repr(b"\xff")}
        await peer.finish()
    finally:
        peer.kill()


async def test_another_process_sends_to_this_process_channel():
    channel = await channel_layer.default().new_channel()
    await run("send", channel, json.dumps({"type": "from.peer", "n": 3}))
    assert await _receive(channel) == {"type": "from.peer", "n": 3}


async def test_group_send_from_this_process_reaches_a_member_in_another():
    peer = await Peer.start("member", "chat_lobby", "1")
    try:
        await peer.ready()
        await channel_layer.default().group_send("chat_lobby", {"type": "chat.message", "message": "hi"})
        assert await peer.got() == {"type": "chat.message", "message": "hi"}
        await peer.finish()
    finally:
        peer.kill()


async def test_group_send_from_another_process_reaches_members_here():
    target = channel_layer.default()
    member = await target.new_channel()
    await target.group_add("chat_lobby", member)
    await target.group_add("chat_lobby", "lobby-archive")
    await run("group_send", "chat_lobby", json.dumps({"type": "chat.message", "message": "from afar"}))
    assert await _receive(member) == {"type": "chat.message", "message": "from afar"}
    assert await _receive("lobby-archive") == {"type": "chat.message", "message": "from afar"}


async def test_a_group_member_added_for_another_process_gets_group_sends():
    """group_add of another process's channel (the peer's) from here, then group_send."""
    peer = await Peer.start("new", "1")
    try:
        channel = await peer.ready()
        target = channel_layer.default()
        await target.group_add("remote_members", channel)
        await target.group_send("remote_members", {"type": "note", "n": 1})
        assert await peer.got() == {"type": "note", "n": 1}
        await peer.finish()
    finally:
        peer.kill()


async def test_sends_and_group_sends_to_a_channel_in_another_process_arrive_in_order():
    """The spec's channel is first in, first out, whichever call put a message in it: one writer
    alternating ``send`` to another process's channel and ``group_send`` to a group the channel
    joined there sees them arrive in the order written."""
    count = 100  # within the default capacity even if the peer took nothing before the last
    peer = await Peer.start("member", "ordered_lobby", str(count))
    try:
        channel = await peer.ready()
        target = channel_layer.default()
        for i in range(count):
            if i % 2:
                await target.group_send("ordered_lobby", {"type": "note", "i": i})
            else:
                await target.send(channel, {"type": "note", "i": i})
        got = [(await peer.got())["i"] for _ in range(count)]
        assert got == list(range(count))
        await peer.finish()
    finally:
        peer.kill()

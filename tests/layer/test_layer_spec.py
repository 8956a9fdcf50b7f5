"""The layer against the Channel Layer Specification, section by section, where our layer once
differed from the peers (channels_redis, Channels' in-memory layer)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured

from listener.layer import channel_layer
from tests.layer.test_layer_conformance import Collector, fresh, receive

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["fresh"]


async def _routed(target: channel_layer.PostgresChannelLayer, group: str, name: str) -> Collector:
    """A real-time-style member of ``group``: once it has an event, the listener has routed it."""
    witness = Collector()
    target.attach(name, witness)
    target.join(group, name)
    return witness


# Specification Details: send / receive --------------------------------------------------------


async def test_receive_on_another_process_channel_fails_at_once(fresh):
    with pytest.raises(AssertionError, match="not made by this process"):
        await asyncio.wait_for(fresh().receive("specific.elsewhere-1!abc"), 5)


async def test_a_channel_of_one_layer_is_received_through_another_of_the_process(fresh):
    maker, other = fresh(), fresh()
    channel = await maker.new_channel()
    await other.send(channel, {"type": "hello"})
    assert await receive(other, channel) == {"type": "hello"}


async def test_two_waiting_receivers_of_a_named_channel_are_served_first_come(fresh):
    first_layer, second_layer = fresh(), fresh()
    first = asyncio.ensure_future(receive(first_layer, "fifo"))
    await first_layer._inbox.started()
    second = asyncio.ensure_future(receive(second_layer, "fifo"))
    await first_layer.send("fifo", {"type": "m", "n": 1})
    assert await first == {"type": "m", "n": 1}
    await first_layer.send("fifo", {"type": "m", "n": 2})
    assert await second == {"type": "m", "n": 2}


def test_receive_from_two_event_loops_with_close_between(fresh):
    """channels_redis's test_double_receive, with the spec's close() instead of its pools."""
    target = fresh()
    first = async_to_sync(target.new_channel)()
    second = async_to_sync(target.new_channel)()
    async_to_sync(target.send)(first, {"type": "one"})
    async_to_sync(target.close)()
    async_to_sync(target.send)(second, {"type": "two"})
    async_to_sync(target.close)()
    assert async_to_sync(target.receive)(second) == {"type": "two"}
    assert async_to_sync(target.receive)(first) == {"type": "one"}


# Groups ---------------------------------------------------------------------------------------


async def test_group_send_is_in_order_with_the_same_writers_sends(fresh):
    target = fresh()
    channel = await target.new_channel()
    await target.group_add("ordered", channel)
    for n in range(5):
        await target.group_send("ordered", {"type": "group", "n": n})
        await target.send(channel, {"type": "direct", "n": n})
    got = [await receive(target, channel) for _ in range(10)]
    assert [(m["type"], m["n"]) for m in got] == [(t, n) for n in range(5) for t in ("group", "direct")]


async def test_group_send_reaches_the_members_the_group_has_when_it_returns(fresh):
    target = fresh()
    leaving, joining = await target.new_channel(), await target.new_channel()
    await target.group_add("now", leaving)
    witness = await _routed(target, "now", "specific.witness!now")
    await target.group_send("now", {"type": "news"})
    await target.group_discard("now", leaving)
    await target.group_add("now", joining)
    await asyncio.wait_for(witness.events.get(), 10)  # the listener has read the row
    assert await receive(target, leaving) == {"type": "news"}
    await target.send(joining, {"type": "marker"})
    assert await receive(target, joining) == {"type": "marker"}


async def test_members_added_on_any_layer_or_alias_of_the_process_get_group_sends(fresh, settings):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "listener.layer.PostgresChannelLayer"},
        "second": {"BACKEND": "listener.layer.PostgresChannelLayer"},
    }
    from channels.layers import channel_layers

    built, second = fresh(), channel_layers["second"]
    mine, theirs = await built.new_channel(), await second.new_channel()
    await built.group_add("shared", mine)
    await second.group_add("shared", theirs)
    await channel_layer.default().group_send("shared", {"type": "to.all"})
    assert await receive(built, mine) == {"type": "to.all"}
    assert await receive(second, theirs) == {"type": "to.all"}
    await second.close()


async def test_each_prefix_is_its_own_namespace(fresh):
    plain, other = fresh(), fresh(prefix="other")
    mine, theirs = await plain.new_channel(), await other.new_channel()
    await plain.group_add("same-name", mine)
    await other.group_add("same-name", theirs)
    witness = await _routed(plain, "same-name", "specific.witness!ns")
    await other.group_send("same-name", {"type": "other.only"})
    assert await receive(other, theirs) == {"type": "other.only"}
    await plain.group_send("same-name", {"type": "plain.only"})
    assert (await asyncio.wait_for(witness.events.get(), 10)).type == "plain.only"
    assert await receive(plain, mine) == {"type": "plain.only"}
    await other.send("named", {"type": "other"})
    await plain.send("named", {"type": "plain"})
    assert await receive(plain, "named") == {"type": "plain"}
    assert await receive(other, "named") == {"type": "other"}


# Capacity -------------------------------------------------------------------------------------


async def test_group_send_over_capacity_drops_and_logs_one_info_line(fresh, caplog):
    target = fresh(capacity=3)
    channel = await target.new_channel()
    await target.group_add("small", channel)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("listener.layer.channel_layer").addHandler(handler)
    try:
        for n in range(4):
            await target.group_send("small", {"type": "m", "n": n})
    finally:
        logging.getLogger("listener.layer.channel_layer").removeHandler(handler)
    assert [await receive(target, channel) for _ in range(3)] == [{"type": "m", "n": n} for n in range(3)]
    await target.send(channel, {"type": "marker"})
    assert await receive(target, channel) == {"type": "marker"}
    assert [(r.levelname, r.getMessage()) for r in records] == [
        ("INFO", "1 of 1 channels over capacity in group small")
    ]


# Flush and close (extensions, and the layer's life) ----------------------------------------------


async def test_close_keeps_buffered_messages_and_memberships(fresh):
    target = fresh()
    channel = await target.new_channel()
    await target.group_add("kept", channel)
    await target.send(channel, {"type": "before"})
    await target.close()
    await target.group_send("kept", {"type": "after"})
    assert [await receive(target, channel) for _ in range(2)] == [{"type": "before"}, {"type": "after"}]


async def test_flush_forgets_other_layers_groups_and_buffers(fresh):
    first, second = fresh(), fresh()
    channel = await second.new_channel()
    await second.group_add("flushed", channel)
    await second.send(channel, {"type": "old"})
    await first.flush()
    await first.group_send("flushed", {"type": "after"})
    await second.send(channel, {"type": "marker"})
    assert await receive(second, channel) == {"type": "marker"}


# Configuration -----------------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["hosts", "symmetric_encryption_keys", "config"])
def test_unknown_options_are_refused_by_name(option: str) -> None:
    options: dict[str, Any] = {option: None}
    with pytest.raises(ImproperlyConfigured, match=option):
        channel_layer.PostgresChannelLayer(**options)


def test_known_options_are_taken() -> None:
    layer = channel_layer.PostgresChannelLayer(
        expiry=5, capacity=7, channel_capacity={"big*": 9}, group_expiry=30, prefix="mine"
    )
    assert (layer.expiry, layer.group_expiry, layer.prefix) == (5, 30, "mine")
    assert (layer.get_capacity("bigger"), layer.get_capacity("small")) == (9, 7)

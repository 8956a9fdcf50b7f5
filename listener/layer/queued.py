"""Group messages from other processes, carried to this process's plain members by channel queue.

A plain member here (a consumer that ``receive``s) gets another process's ``send``s through
the message table. If that process's ``group_send``s came another way, by the event log and
this process's listener, nothing would order the two paths: one writer alternating them saw
about one message in eight overtake an earlier one. So this process records in
``listener_groupmember`` one row per (group, queue) that holds plain members here, with the
channel ``<queue>!#<group>``; a ``group_send`` anywhere else queues one message for that row
in the same queue as the sends to those channels (``realtime_group_send_v3``), and the inbox
claims the queue in id order and hands the message to each member.

Why that order is the writer's, under any concurrency: a writer awaits each call, so each of
its transactions commits before the next one takes its id, and ids grow; a claim (one
statement, one snapshot) that sees a later message sees every earlier one, or an earlier
claim took it. The row is written before ``group_add`` returns, so a ``group_send`` that
starts afterwards in any process finds it. The log event is marked ``group_send``, so no
listener hands it to plain members a second time; a trigger's events still reach them from
the log, as they have no ``send`` to keep order with.

Why not merge the two streams here by transaction order instead: a merge has to hold each
stream until the other has caught up past it (a claim after every listener step, a listener
step after every claim), which costs every message another round trip and ties the inbox to
the listener's loop. Here the cost is one queued row per group_send per other process with
plain members in the group (channels_redis writes one per process too), one upsert per
(group, queue) per group expiry, and nothing for the real-time sockets, which stay on the log
with their cursors. A row outlives a process that dies without discarding: its messages wait
until they expire, as for any channel of a dead process.
"""

from __future__ import annotations

import json
import logging
import math
import time

from listener.layer import codec, database, registry

logger = logging.getLogger(__name__)

# What separates a queue from the group in the channel of a row standing for many members:
# "#" is allowed in neither channel nor group names, so no real channel looks like one.
MARK = "!#"
# A row is written to last this many group expiries; it is renewed once a member would
# outlive the part of that time left after a slack of half an expiry (clocks drift apart).
LIFETIMES = 2.0
_RENEW_BEFORE = 0.5
# Longer is forever for a membership (and would overflow Postgres' interval).
_LONGEST = 10 * 365 * 86400.0


def marker(queue: str, key: str) -> str:
    """The channel of the row standing for ``queue``'s plain members of group ``key``."""
    return "%s%s%s" % (queue, MARK, key)


def is_marker(channel: str) -> bool:
    return MARK in channel


async def register(
    db: database.LayerConnection, ns: registry.Namespace, group: str, channel: str, ttl: float
) -> None:
    """Make group_sends from other processes reach ``channel``, a plain member of ``group`` here.

    The row is written before ``group_add`` returns: a group_send that starts afterwards, in
    any process, sees it and queues its message for this process.
    """
    queue = channel.partition("!")[0]
    slot = (group, queue)
    ttl = min(ttl, _LONGEST)
    now = time.monotonic()
    if ns.registered.get(slot, -math.inf) >= now + ttl:
        return
    key = ns.key(group)
    lasting = LIFETIMES * ttl
    await db.fetch(
        "group_member_add",
        {"group": key, "channel": marker(queue, key), "queue": queue, "ttl": float(lasting)},
    )
    ns.registered[slot] = now + lasting - _RENEW_BEFORE * ttl


async def unregister(db: database.LayerConnection, ns: registry.Namespace, group: str, channel: str) -> None:
    """Drop the row once ``channel`` was the last plain member of ``group`` under its queue."""
    queue = channel.partition("!")[0]
    members = ns.groups.get(group, {})
    if any(c.partition("!")[0] == queue and c not in ns.direct for c in members):
        return
    # Forgotten before the await: a group_add meanwhile writes the row again, after this
    # delete on the same connection.
    if ns.registered.pop((group, queue), None) is None:
        return
    key = ns.key(group)
    await db.fetch("group_member_discard", {"group": key, "channel": marker(queue, key)})


def deliver(channel: str, text: str, expires: float, full: set[str]) -> None:
    """Hand a claimed group message to this process's plain members it stands for.

    ``full`` are the channels whose buffers were full when the queue was claimed: their older
    messages stayed in Postgres, so this one must not pass them; it is dropped for them, as a
    group_send to a full channel is.
    """
    queue, _, key = channel.partition(MARK)
    ns, group = registry.find(key)
    members = ns.groups.get(group) if ns is not None else None
    if ns is None or not members:
        return
    try:
        codec.decode(text)
    except json.JSONDecodeError:
        logger.error("message for group %s is not a channel message; dropped: %.200r", key, text)
        return
    targets = [c for c in ns.plain(group, members) if c.partition("!")[0] == queue]
    dropped = 0
    for target in targets:
        owner = ns.owner(target)
        # A decoded copy per member: one consumer's changes must not show in another's.
        if owner is None or target in full or not owner.put_local(target, codec.decode(text), expires):
            dropped += 1
    if dropped:
        logger.info("%d of %d channels over capacity in group %s", dropped, len(targets), group)

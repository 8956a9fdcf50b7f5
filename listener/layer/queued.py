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
plain members in the group (channels_redis writes one per process too), one upsert when a
(group, queue) gets its first plain member, one statement a minute renewing them all (the
inbox's), and nothing for the real-time sockets, which stay on the log with their cursors.
A process that dies without discarding leaves its rows for at most ``ROW_LIFETIME``; what
was queued for them meanwhile expires unread, as for any channel of a dead process.
"""

from __future__ import annotations

import collections.abc
import json
import logging
from typing import Any

from listener import conf
from listener.layer import codec, database, registry

logger = logging.getLogger(__name__)

# What separates a queue from the group in the channel of a row standing for many members:
# "#" is allowed in neither channel nor group names, so no real channel looks like one.
MARK = "!#"
# How long a row lasts unless renewed: its process's inbox renews it every RENEW_EVERY
# seconds while the group has plain members here, so a process that dies leaves it this long.
ROW_LIFETIME = 300.0
RENEW_EVERY = 60.0


def marker(queue: str, key: str) -> str:
    """The channel of the row standing for ``queue``'s plain members of group ``key``."""
    return "%s%s%s" % (queue, MARK, key)


def is_marker(channel: str) -> bool:
    return MARK in channel


async def register(db: database.LayerConnection, ns: registry.Namespace, group: str, channel: str) -> None:
    """Make group_sends from other processes reach ``channel``, a plain member of ``group`` here.

    The row is written before ``group_add`` returns: a group_send that starts afterwards, in
    any process, sees it and queues its message for this process.
    """
    slot = (group, _queue(channel))
    if slot in ns.registered:
        return
    key = ns.key(group)
    await db.fetch(
        "group_member_add",
        {"group": key, "channel": marker(slot[1], key), "queue": slot[1], "ttl": lifetime()},
    )
    ns.registered.add(slot)


async def unregister(db: database.LayerConnection, ns: registry.Namespace, group: str, channel: str) -> None:
    """Drop the row once ``channel`` was the last plain member of ``group`` under its queue."""
    queue = _queue(channel)
    if _holds(ns, group, queue) or (group, queue) not in ns.registered:
        return
    # Forgotten before the await: a group_add meanwhile writes the row again, after this
    # delete on the same connection.
    ns.registered.discard((group, queue))
    key = ns.key(group)
    await db.fetch("group_member_discard", {"group": key, "channel": marker(queue, key)})


def renewals(queues: collections.abc.Set[str]) -> dict[str, Any]:
    """The rows of ``queues`` to renew, as the ``group_member_renew`` query takes them.

    A row whose group has no plain member left under its queue (their memberships expired)
    is forgotten instead, and expires in Postgres. The renewal runs on the layer's connection
    (``Inbox``), after any ``group_discard`` that deleted a row before it was asked, so it
    cannot bring that row back, and before any asked after it.
    """
    groups: list[str] = []
    channels: list[str] = []
    for ns in registry.namespaces():
        for group, queue in sorted(ns.registered):
            if queue not in queues:
                continue
            if not _holds(ns, group, queue):
                ns.registered.discard((group, queue))
                continue
            groups.append(ns.key(group))
            channels.append(marker(queue, ns.key(group)))
    return {
        "groups": groups,
        "channels": channels,
        "queues": [c.partition(MARK)[0] for c in channels],
        "ttl": lifetime(),
    }


def lifetime() -> float:
    """ROW_LIFETIME, or longer where the inbox looks more rarely than RENEW_EVERY."""
    return max(ROW_LIFETIME, 4 * conf.poll_interval())


def _queue(channel: str) -> str:
    return channel.partition("!")[0]


def _holds(ns: registry.Namespace, group: str, queue: str) -> bool:
    """Whether ``group`` has a live plain member under ``queue`` in this process."""
    members = ns.groups.get(group)
    return members is not None and any(_queue(c) == queue for c in ns.plain(group, members))


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
    targets = [c for c in ns.plain(group, members) if _queue(c) == queue]
    dropped = 0
    for target in targets:
        owner = ns.owner(target)
        # A decoded copy per member: one consumer's changes must not show in another's.
        if owner is None or target in full or not owner.put_local(target, codec.decode(text), expires):
            dropped += 1
    if dropped:
        logger.info("%d of %d channels over capacity in group %s", dropped, len(targets), group)

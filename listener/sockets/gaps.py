"""Whether a resuming cursor may have missed a pruned event of the topics it follows.

A page resumes from a cursor C (a snapshot plus partly delivered transactions). A pruned event
was committed when it was pruned, so C can only have missed it if its transaction x is not
visible in C: x >= C.xmax, or x in C's in-progress list. Comparing C's xmin with the highest
pruned xid, as earlier versions did, gets this wrong in both directions that matter:

- a write transaction left open anywhere keeps every new snapshot's xmin below it, so every page
  rendered after a prune was told to reload, and reloaded into the same verdict (a loop);
- a quiet room whose last delivered event was pruned had its pages reload although they had
  seen everything of the room.

So `prune_events` keeps, per topic, the highest pruned ``(xid, event id)`` and the snapshot of
the batch that pruned last (every pruned event is visible in it: later batches see more). For
one topic horizon ``(M, m, S)``:

- ``M >= C.xmax``: C missed event M (exact);
- some ``x`` in C's in-progress list with ``x <= M`` that S sees: x may have been pruned; it is
  harmless only if ``x == M`` and C already delivered up to ``m`` of it (every pruned event of
  the topic in M has an id up to ``m``). Otherwise resync (conservative: x may have had no event
  of this topic at all, but the log no longer says);
- anything else: every pruned event of the topic is visible in C, nothing was missed.

Transactions still in progress when the prune ran are invisible in S, so the open transaction
that kept xmin back no longer matters, and a cursor taken after the prune sees every pruned xid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from channels.db import database_sync_to_async
from django.db import connection

from listener import queries
from listener.log import cursors, events
from listener.sockets import decisions, lifecycle

OLDER_THAN_LOG = "cursor is older than the retained event log"


@dataclasses.dataclass(frozen=True, slots=True)
class Horizon:
    """How far one topic's events were pruned."""

    topic: str
    xid: int
    event_id: int
    snapshot: cursors.Snapshot


def missed(cursor: cursors.Cursor, horizons: Iterable[Horizon], legacy_below: int = 0) -> str | None:
    """Why ``cursor`` may have missed a pruned event of these horizons' topics, or None.

    ``legacy_below`` is the global horizon that prunes of earlier versions wrote
    (``listener_retention.pruned_below_xid``); cursors below it keep the old, coarse verdict.
    """
    snap = cursor.snapshot
    if snap.xmin < legacy_below:
        return OLDER_THAN_LOG
    for horizon in horizons:
        if horizon.xid >= snap.xmax:
            return "%s: an event of %s after this cursor was pruned" % (OLDER_THAN_LOG, horizon.topic)
        for xid in snap.xip:
            if xid > horizon.xid or not horizon.snapshot.sees(xid):
                continue
            if xid == horizon.xid and cursor.partial.get(xid, 0) >= horizon.event_id:
                continue
            return "%s: a transaction in progress at this cursor may have had a pruned event of %s" % (
                OLDER_THAN_LOG,
                horizon.topic,
            )
    return None


def horizons(topics: list[str]) -> list[Horizon]:
    """The pruning horizons of ``topics``, read with Django's connection."""
    with connection.cursor() as cur:
        cur.execute(queries.get("topic_horizons"), {"topics": topics})
        rows = cur.fetchall()
    return [
        Horizon(topic, int(xid), int(event_id), cursors.Snapshot.parse(snapshot))
        for topic, xid, event_id, snapshot in rows
    ]


@database_sync_to_async
def resync_reason(cursor: cursors.Cursor, topics: list[str], legacy_below: int = 0) -> str | None:
    """Why a page resuming from ``cursor`` on ``topics`` must reload, or None if it may resume.

    Call it before the replay (no replay is wasted on a page that must reload) and again after
    it: a prune that commits while the replay reads could remove an event the replay needed.
    """
    return missed(cursor, horizons(topics), legacy_below)


async def resync_if_missed(socket: lifecycle.Socket, cursor: cursors.Cursor, legacy_below: int) -> bool:
    """Send `resync_required` and close 4410 if the cursor may have missed a pruned event, or
    predates the subscriber's access: a cursor is bound to no user, topic or time, and history
    from before the grant is not theirs to see (no snapshot at the grant's commit exists to
    resume from, so the page renders afresh)."""
    reason: str | None = None
    if socket.access_since is not None and not cursor.snapshot.sees(socket.access_since):
        reason = "cursor is older than this subscriber's access"
    if reason is None:
        reason = await resync_reason(cursor, [socket.topic], legacy_below)
    if reason is None:
        return False
    await socket.send(text_data=events.frame("resync_required", {"reason": reason}))
    await socket.close_with(decisions.Close(decisions.Code.RESYNC_REQUIRED, "cursor expired"))
    return True

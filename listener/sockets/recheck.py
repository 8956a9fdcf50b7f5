"""Access an app declared with ``listener.Grants``: re-checked when a granting row goes or changes.

A ``realtime_access_changed`` event on a socket's topic that names its user pauses the socket:
the events after it are held (as during a replay) while ``authorize()`` runs again, in a new
transaction that sees the change. If access is gone the socket closes with the refusal (4403,
or 4404 when the topic itself is gone) and the held events are never sent, so no frame the
user could no longer see follows the change; if access holds, the held events are decided with
the access just read. Sockets of other users skip the event. In a replay the event is skipped:
access was read at the resume point, after the history, and holds throughout it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from channels.db import database_sync_to_async
from django import db

from listener import metrics
from listener.capture import grants
from listener.log import events
from listener.sockets import decisions, lifecycle

logger = logging.getLogger(__name__)

# Re-checks in flight; kept so that they are not collected while they run.
_TASKS: set[asyncio.Task[None]] = set()
# Sockets whose re-check found a new grant, with its xid8, until an event the grant covers arrives.
_guards: weakref.WeakKeyDictionary[lifecycle.Socket, int] = weakref.WeakKeyDictionary()


def decide(socket: lifecycle.Socket, event: events.LogEvent) -> decisions.Decision | None:
    """Skip (after starting a re-check, when it concerns this socket), or close a socket whose
    new grant does not cover the event (4410, reload); None for other events."""
    guard = _guards.get(socket)
    if guard is not None:
        if not event.preceded_by(guard):
            return decisions.Close(decisions.Code.RESYNC_REQUIRED, "access was granted anew; reload")
        # The log is read in order: every later event follows the grant too.
        del _guards[socket]
    if event.type != grants.ACCESS_CHANGED:
        return None
    users = event.kwargs.get("users")
    if not isinstance(users, list):
        # Whose access changed is unknown, so nobody's may be assumed to hold: the socket closes
        # resumably (4500) and its handshake checks again; a replay skips the event, loudly.
        raise ValueError("event %s: %s without a users list" % (event.id, event.type))
    if socket.state is lifecycle.SocketState.LIVE and str(socket.user_id) in users:
        socket.state = lifecycle.SocketState.RECHECKING
        task = asyncio.get_running_loop().create_task(
            _recheck(socket, event.id), name="access-recheck %s" % socket.channel_name
        )
        _TASKS.add(task)
        task.add_done_callback(_TASKS.discard)
    return decisions.Verdict.SKIP


async def _recheck(socket: lifecycle.Socket, event_id: int) -> None:
    before = socket.access_since
    try:
        refusal = await database_sync_to_async(socket.authorize)()
    except db.DatabaseError:
        # Not knowing is not a revocation: the page reconnects, and its handshake checks again.
        logger.warning(
            "socket user=%s topic=%s: access re-check failed, database unavailable",
            socket.user_id,
            socket.topic,
        )
        refusal = decisions.Close(decisions.Code.UNAVAILABLE, "database unavailable, retry")
    except Exception:
        logger.exception(
            "socket user=%s topic=%s: access re-check failed; closing", socket.user_id, socket.topic
        )
        refusal = decisions.Close(
            decisions.Code.DELIVERY_FAILED, "access check failed; resume from your last cursor"
        )
    metrics.ACCESS_RECHECKS.labels("revoked" if refusal is not None else "kept").inc()
    if refusal is not None:
        logger.info(
            "socket user=%s topic=%s: access ended (event %s), code=%s",
            socket.user_id,
            socket.topic,
            event_id,
            refusal.code,
        )
        socket.revoke(refusal)
        return
    if socket.access_since is not None and socket.access_since != before:
        # Access holds by another grant than before (removed, then granted again before this
        # check ran; or a member made owner): events the log orders before that grant were
        # written while the user may have had no access, and the grant does not cover them.
        _guards[socket] = socket.access_since
    socket.resume()

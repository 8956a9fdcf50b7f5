"""A socket's user read in the snapshot of its access check: one database trip per handshake.

Behind ``SocketAuth(..., lazy_user=True)`` a real-time socket does not know its user before that
trip, so it cannot join its user's topic (where deactivations and password changes arrive)
before the snapshot its replay ends at, as it joins its page's and session's. Until it knows,
the layer hands it every event on any user topic (``await_family``), in order with the rest;
once the trip has found the user it joins that topic and drops the other users' events it
kept. An event of its own user committed after the snapshot is then either among those kept
or still to come on the topic: none is missed, none arrives twice.
"""

from __future__ import annotations

import collections.abc
from typing import Any

from django.utils import timezone

from listener.sockets import decisions, socket_auth

Authorize = collections.abc.Callable[[], decisions.Close | None]


def reading(socket: Any, authorize: Authorize) -> Authorize:
    """``authorize``, after reading the socket's user in the same transaction when it is unread;
    the session's row is read there too, and its expiry kept for the socket's timer."""
    pending: socket_auth.PendingUser | None = socket.scope.get(socket_auth.PENDING_USER)
    if pending is None or pending.user is not None:
        return authorize

    def read_then_authorize() -> decisions.Close | None:
        session = socket.scope["session"]
        # Our session store says whether it read the row now, in this snapshot.
        unloaded = getattr(session, "row_read", None) is False
        user = socket_auth.read_user(socket.scope)
        pending.user = socket.scope["user"] = user
        if not user.is_authenticated:
            return decisions.Close(decisions.Code.NOT_LOGGED_IN, "log in first")
        socket.user_id = user.pk
        if unloaded and session.row_read:
            socket.expiry.preread = session.row_expiry or timezone.now()
        return authorize()

    return read_then_authorize

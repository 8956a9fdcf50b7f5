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
import dataclasses
from typing import Any

from django.conf import settings
from django.contrib import auth
from django.utils import timezone

from listener import session_rows
from listener.sockets import decisions, session_user, user_rows

Authorize = collections.abc.Callable[[], decisions.Close | None]


def reading(socket: Any, authorize: Authorize) -> Authorize:
    """``authorize``, after reading the socket's user in the same transaction when it is unread;
    the session's row is read there too, and its expiry kept for the socket's timer."""
    pending: session_user.PendingUser | None = socket.scope.get(session_user.PENDING_USER)
    if pending is None or pending.user is not None:
        return authorize

    def read_then_authorize() -> decisions.Close | None:
        session = socket.scope["session"]
        # Our session store says whether it read the row now, in this snapshot.
        unloaded = pending.together is not None or getattr(session, "row_read", None) is False
        user = read(socket.scope, pending)
        pending.user = socket.scope["user"] = user
        if not user.is_authenticated:
            return decisions.Close(decisions.Code.NOT_LOGGED_IN, "log in first")
        socket.user_id = user.pk
        if unloaded and session.row_read:
            socket.expiry.preread = session.row_expiry or timezone.now()
        return authorize()

    return read_then_authorize


def read(scope: session_user.Scope, pending: session_user.PendingUser) -> Any:
    """The scope's user: from what its batch read together (`read_together`), else by
    statements of its own."""
    together: ReadTogether | None = pending.together
    pending.together = None
    if together is None:
        return session_user.read_user(scope)
    scope["session"].loaded_from(together.row, together.data)
    return session_user.read_user(scope, together.users)


@dataclasses.dataclass(frozen=True)
class ReadTogether:
    """A socket's session row (None: no unexpired one) and its decoded data, and the users of
    its batch (by ``user_rows.get_many``), read in the snapshot its check is about to run in."""

    row: Any
    data: dict[str, Any]
    users: dict[Any, Any] | None


def read_together(unread: list[tuple[session_user.Scope, session_user.PendingUser]]) -> None:
    """The session rows of the ``unread`` sockets' scopes, in one statement, then their users
    in another, for each socket's own read (`read`) to take instead of statements of its own: a
    batch of handshakes in one transaction (``access_batches``). Read again in each transaction
    of the batch, so a read always finds what its own snapshot holds. Where the session store is
    ``listener.sessions``'s and the users are read as ``ModelBackend`` does; other sockets read
    their own."""
    by_model: dict[type[Any], list[tuple[Any, session_user.PendingUser]]] = {}
    for scope, pending in unread:
        session: Any = scope.get("session")
        # Our session store loads from a row read elsewhere; one already loaded is left as is.
        if pending.user is not None or not hasattr(session, "loaded_from"):
            continue
        pending.together = None
        if session.session_key and not hasattr(session, "_session_cache"):
            by_model.setdefault(session.model, []).append((session, pending))
    for model, waiting in by_model.items():
        if len(waiting) > 1:
            _read_sessions(model, waiting)


def _read_sessions(model: type[Any], waiting: list[tuple[Any, session_user.PendingUser]]) -> None:
    rows = session_rows.live_many(model, [session.session_key for session, _ in waiting], timezone.now())
    read: list[tuple[session_user.PendingUser, Any, dict[str, Any], Any]] = []
    ids: dict[Any, list[Any]] = {}
    for session, pending in waiting:
        row = rows.get(session.session_key)
        data = {} if row is None else session.decode(row.session_data)
        backend = data.get(auth.BACKEND_SESSION_KEY)
        if auth.SESSION_KEY not in data or backend not in settings.AUTHENTICATION_BACKENDS:
            backend = None
        else:
            ids.setdefault(backend, []).append(data[auth.SESSION_KEY])
        read.append((pending, row, data, backend))
    users = {path: user_rows.get_many(auth.load_backend(path), found) for path, found in ids.items()}
    for pending, row, data, backend in read:
        pending.together = ReadTogether(row, data, users.get(backend))

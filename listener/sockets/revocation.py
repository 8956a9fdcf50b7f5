"""Losing access while connected: how every socket reacts to its user and session topics.

Every socket joins its user's and its login session's topics besides its own; the triggers of
``listener.capture.access`` publish on them, and the consumer base closes with 4401, so no app
has to repeat the rule.

A password change invalidates the user's other sessions (their stored ``_auth_user_hash`` no
longer matches) but not the one that made it: Django's ``update_session_auth_hash`` cycles that
session's key and stores the new hash. ``listener.sessions.SessionStore`` marks such a cycle, so
the old key's deletion names its successor instead of ending the session; sockets then follow
the successor and adopt the new hash. The view must save the password and cycle the key in one
transaction (the project wraps ``PasswordChangeView`` in ``transaction.atomic``): then a socket
sees the key move before its password check runs, whereas a check that ran in between would
find the old hash and close the changing session's sockets too.
"""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async
from django import db
from django.contrib import auth
from django.utils import crypto

from listener.capture import access, topics
from listener.layer import channel_layer
from listener.log import events
from listener.sockets import decisions, lifecycle

logger = logging.getLogger(__name__)


def decide(socket: lifecycle.Socket, event: events.LogEvent) -> decisions.Decision | None:
    """A close for events that end this socket's access; None for every other event."""

    close = decisions.Close
    code = decisions.Code.NOT_LOGGED_IN
    if event.type == access.USER_ACCESS_REVOKED:
        return close(code, "user deactivated or deleted")
    if event.type == access.SESSION_ENDED:
        successor = event.kwargs.get("successor")
        if not successor:
            return close(code, "logged out")
        _follow(socket, successor)
        return decisions.Verdict.SKIP
    if event.type == access.SESSION_EXPIRY_CHANGED:
        if socket.state is lifecycle.SocketState.LIVE:
            # Before that, the expiry is read in the handshake's snapshot, after this change.
            socket.expiry.changed()
        return decisions.Verdict.SKIP
    if event.type == access.USER_PASSWORD_CHANGED:
        if socket.state is lifecycle.SocketState.LIVE:
            # Access was read after the history a replay sends, so only live changes count.
            task = asyncio.get_running_loop().create_task(
                _check_password(socket), name="password-check %s" % socket.channel_name
            )
            _TASKS.add(task)
            task.add_done_callback(_TASKS.discard)
        return decisions.Verdict.SKIP
    return None


_TASKS: set[asyncio.Task[None]] = set()


def watch(socket: lifecycle.Socket) -> lifecycle.SessionWatch:
    if socket.session_watch is None:
        socket.session_watch = lifecycle.SessionWatch()
    return socket.session_watch


def _follow(socket: lifecycle.Socket, successor: str) -> None:
    """The session's key was cycled, not ended: follow the new key, whose hash is the user's own."""
    if not successor.startswith(topics.SESSION.prefix + "_"):
        logger.warning("session successor %r is not a session topic; ignored", successor)
        return
    channel_layer.default().join(successor, socket.channel_name)
    state = watch(socket)
    state.adopt_hash = True
    state.followed = successor


async def _check_password(socket: lifecycle.Socket) -> None:
    try:
        stale = await database_sync_to_async(_session_is_stale)(socket)
    except db.DatabaseError:
        # Not knowing is not a logout: the page reconnects, and its handshake checks again.
        logger.warning("socket user=%s: password check failed, database unavailable; closing", socket.user_id)
        socket.revoke(decisions.Close(decisions.Code.UNAVAILABLE, "database unavailable, retry"))
        return
    except Exception:
        logger.exception("socket user=%s: password check failed; closing", socket.user_id)
        stale = True
    if stale:
        socket.revoke(decisions.Close(decisions.Code.NOT_LOGGED_IN, "password changed"))


def _session_is_stale(socket: lifecycle.Socket) -> bool:
    """Whether this socket's session no longer authenticates its user, as Django would judge it."""
    if socket.user_id is None:
        return True
    user = auth.get_user_model()._default_manager.filter(pk=socket.user_id).first()
    if user is None:
        return True
    current = user.get_session_auth_hash()
    state = watch(socket)
    if state.adopt_hash:
        state.adopt_hash = False
        state.known_hash = current
        return False
    known = state.known_hash
    if known is None:
        session = socket.scope.get("session")
        known = session.get(auth.HASH_SESSION_KEY, "") if session is not None else ""
    return not crypto.constant_time_compare(known, current)

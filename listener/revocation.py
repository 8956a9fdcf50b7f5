"""Losing access while connected: what publishes it, and how every socket reacts.

The library owns two topics that every socket joins besides its own: its user's and its login
session's. Triggers publish on them when a user is deactivated or deleted, when a session row
is deleted (logout), and when a password changes; the consumer base closes with 4401 on them,
so no app has to repeat the rule.

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
import dataclasses
import logging
from typing import TYPE_CHECKING

import pgtrigger
from channels.db import database_sync_to_async
from django import db
from django.contrib import auth
from django.db import models
from django.utils import crypto
from psycopg import sql

from listener import events, publishing, topics

if TYPE_CHECKING:
    from listener import consumer as consumer_module

logger = logging.getLogger(__name__)

USER_ACCESS_REVOKED = "user_access_revoked"
USER_PASSWORD_CHANGED = "user_password_changed"
SESSION_ENDED = "session_ended"
# Set for one transaction by listener.sessions while it deletes a cycled session key.
SUCCESSOR_SETTING = "realtime.session_successor"


def user_triggers(user_model: type[models.Model]) -> list[pgtrigger.Trigger]:
    """The user model's triggers; deactivation only where the model has an ``is_active`` column."""
    pk = user_model._meta.pk
    if pk is None:
        raise ValueError("%s has no primary key" % user_model.__name__)
    user_topic = [topics.USER.of(pk.name)]
    payload: publishing.Payload = {"id": pk.name}
    found: list[pgtrigger.Trigger] = [
        publishing.Publish(
            name="emit_user_deleted",
            operation=pgtrigger.Delete,
            event=USER_ACCESS_REVOKED,
            topics=user_topic,
            payload=payload,
        )
    ]
    columns = {field.name for field in user_model._meta.concrete_fields}
    if "is_active" in columns:
        found.append(
            publishing.Publish(
                name="emit_user_deactivated",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__is_active=True, new__is_active=False),
                event=USER_ACCESS_REVOKED,
                topics=user_topic,
                payload=payload,
            )
        )
    if "password" in columns:
        found.append(
            publishing.Publish(
                name="emit_user_password_changed",
                operation=pgtrigger.Update,
                condition=publishing.changed("password"),
                event=USER_PASSWORD_CHANGED,
                topics=user_topic,
                payload=payload,
            )
        )
    return found


def session_triggers() -> list[pgtrigger.Trigger]:
    successor = sql.SQL("NULLIF(current_setting({}, true), '')").format(sql.Literal(SUCCESSOR_SETTING))
    return [
        publishing.Publish(
            name="emit_session_ended",
            operation=pgtrigger.Delete,
            event=SESSION_ENDED,
            topics=[topics.SESSION.of("session_key")],
            payload={"successor": successor},
        )
    ]


def decide(
    socket: consumer_module.RealtimeConsumer, event: events.LogEvent
) -> consumer_module.Decision | None:
    """A close for events that end this socket's access; None for every other event."""
    from listener import consumer as consumer_module

    close = consumer_module.Close
    code = consumer_module.Code.NOT_LOGGED_IN
    if event.type == USER_ACCESS_REVOKED:
        return close(code, "user deactivated or deleted")
    if event.type == SESSION_ENDED:
        successor = event.kwargs.get("successor")
        if not successor:
            return close(code, "logged out")
        _follow(socket, successor)
        return consumer_module.Verdict.SKIP
    if event.type == USER_PASSWORD_CHANGED:
        if socket.state is consumer_module.State.LIVE:
            # Access was read after the history a replay sends, so only live changes count.
            task = asyncio.get_running_loop().create_task(
                _check_password(socket), name="password-check %s" % socket.channel_name
            )
            _TASKS.add(task)
            task.add_done_callback(_TASKS.discard)
        return consumer_module.Verdict.SKIP
    return None


_TASKS: set[asyncio.Task[None]] = set()


@dataclasses.dataclass(slots=True)
class SessionWatch:
    """What a socket learnt of its session after the handshake; made on the first cycle or check."""

    # The session hash it last knew (None: the one in the handshake's session).
    known_hash: str | None = None
    # The key was cycled: the next password check adopts the user's current hash.
    adopt_hash: bool = False
    # The topic of the key followed after a cycle (listener.expiry reads that key's expiry).
    followed: str | None = None


def watch(socket: consumer_module.RealtimeConsumer) -> SessionWatch:
    if socket.session_watch is None:
        socket.session_watch = SessionWatch()
    return socket.session_watch


def _follow(socket: consumer_module.RealtimeConsumer, successor: str) -> None:
    """The session's key was cycled, not ended: follow the new key, whose hash is the user's own."""
    if not successor.startswith(topics.SESSION.prefix + "_"):
        logger.warning("session successor %r is not a session topic; ignored", successor)
        return
    from listener import service

    service.channel_layer().join(successor, socket.channel_name)
    state = watch(socket)
    state.adopt_hash = True
    state.followed = successor


async def _check_password(socket: consumer_module.RealtimeConsumer) -> None:
    from listener import consumer as consumer_module

    try:
        stale = await database_sync_to_async(_session_is_stale)(socket)
    except db.DatabaseError:
        # Not knowing is not a logout: the page reconnects, and its handshake checks again.
        logger.warning("socket user=%s: password check failed, database unavailable; closing", socket.user_id)
        socket.revoke(consumer_module.Close(consumer_module.Code.UNAVAILABLE, "database unavailable, retry"))
        return
    except Exception:
        logger.exception("socket user=%s: password check failed; closing", socket.user_id)
        stale = True
    if stale:
        socket.revoke(consumer_module.Close(consumer_module.Code.NOT_LOGGED_IN, "password changed"))


def _session_is_stale(socket: consumer_module.RealtimeConsumer) -> bool:
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

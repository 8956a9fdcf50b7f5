"""Who may open a socket at all: origin, login, cursor syntax and the per-user socket cap.

These checks need no database beyond the session the auth middleware already loaded, so a
socket that fails them is refused before it costs a query.
"""

from __future__ import annotations

import collections.abc
import urllib.parse
from typing import Any

from listener import conf, exceptions
from listener.capture import topics
from listener.layer import channel_layer, process
from listener.log import cursors
from listener.sockets import access_batches, decisions, fragments, lazy_user, origin, session_user, wire

Scope = collections.abc.Mapping[str, Any]


def own_receive(scope: Scope, receive: Any) -> Any:
    """The ``receive`` a real-time consumer reads: the server's own, taking over the reading of
    its user where `SocketAuth` left it (``lazy_user``) to the handshake's one database trip."""
    pending = scope.get(session_user.PENDING_USER)
    return receive if pending is None else pending.take()


def user_unread(scope: Scope) -> bool:
    """Whether the user is read only by the handshake's trip (``lazy_user.reading``)."""
    pending = scope.get(session_user.PENDING_USER)
    return pending is not None and pending.user is None


def refusal(scope: Scope) -> decisions.Close | None:
    """Why this handshake is refused before any topic is looked at, or None."""
    if not origin.allowed(scope):
        return decisions.Close(decisions.Code.FORBIDDEN, "origin not allowed")
    if user_unread(scope):
        session = scope.get("session")
        if session is None or not session.session_key:
            # No session cookie: nobody to read, and no trip to the database for it.
            return decisions.Close(decisions.Code.NOT_LOGGED_IN, "log in first")
        return None  # checked once read (`user_found`)
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return decisions.Close(decisions.Code.NOT_LOGGED_IN, "log in first")
    return None


async def admission(scope: Scope) -> tuple[decisions.Close | None, Any, cursors.Cursor | None]:
    """Every check before the topic's own: why the socket is refused (or None), the user's id,
    and the cursor it resumes from. Ends with the cap check: the caller joins before awaiting.

    The id is the user's primary key as Django gives it (an int, a UUID, a string): the user
    topic formats it as the triggers do, and consumers compare it with keys of their own. It
    is None while the user is unread: `user_found` checks the login and the cap then."""
    refused = refusal(scope)
    if refused is not None:
        return refused, None, None
    user_id = None if user_unread(scope) else scope["user"].pk
    try:
        resume = cursor(scope)
    except exceptions.InvalidCursor as exc:
        return decisions.Close(decisions.Code.BAD_CURSOR, str(exc)), user_id, None
    live = fragments.requested(scope)
    if live is not None and fragments.regions(live) is None:
        return decisions.Close(decisions.Code.NOT_FOUND, "no such live region"), user_id, None
    if live is not None and wire.requested(scope) is None:
        return decisions.Close(decisions.Code.BAD_CURSOR, "no such swap: turbo or htmx"), user_id, None
    return await unready(user_id), user_id, resume


def cursor(scope: Scope) -> cursors.Cursor | None:
    """The ``?cursor=`` the page resumes from; raises `InvalidCursor` for a token we did not issue."""
    query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("cursor")
    if not values or not values[0]:
        return None
    return cursors.Cursor.decode(values[0])


async def unready(user_id: object) -> decisions.Close | None:
    """Why a logged-in user's socket cannot be served now: no listener, or their cap is full."""
    try:
        await process.ready()
    except exceptions.ListenerUnavailable:
        return decisions.Close(decisions.Code.UNAVAILABLE, "real-time service unavailable, retry")
    if user_id is not None and over_cap(user_id):
        return decisions.Close(decisions.Code.TOO_MANY_SOCKETS, "too many open sockets")
    return None


def topics_of(scope: Scope, topic: str, user_id: object) -> list[str]:
    """The socket's topic plus its user's (once read) and session's topics, on which access is revoked."""
    found = [topic] if user_id is None else [topic, topics.USER.name(user_id)]
    session = scope.get("session")
    if session is not None and session.session_key:
        found.append(topics.SESSION.name(session.session_key))
    return list(dict.fromkeys(found))


def over_cap(user_id: object) -> bool:
    """Whether the user already holds their cap of sockets in this process.

    Every socket of a user is in the group ``user_<id>``; the caller joins with no await in
    between, so two handshakes cannot both take the last place.
    """
    cap = conf.max_sockets_per_user()
    return cap is not None and channel_layer.default().members(topics.USER.name(user_id)) >= cap


def join(member: channel_layer.DirectMember, scope: Scope, topic: str, user_id: object) -> str:
    """Attach ``member`` (a socket) to a new channel of this process in its groups; the channel's name."""
    target = channel_layer.default()
    channel = target.channel_name()
    target.attach(channel, member)
    # A topic is a Channels group: the socket joins each as a member of this process.
    for name in topics_of(scope, topic, user_id):
        target.join(name, channel)
    if user_id is None:
        # Its user's topic is known only after the snapshot: every user topic's events until then.
        target.await_family(channel, topics.USER.prefix)
    return channel


async def access(socket: Any) -> tuple[decisions.Close | None, cursors.Snapshot, int]:
    """The socket's access and resume point (``history.resume_point``), its user read with them when it
    has none yet (``lazy_user``: then that user's login, cap and topic, `user_found`); and the
    outbox for its user, with the events that arrived meanwhile."""
    unread = socket.user_id is None
    authorize = lazy_user.reading(socket, socket.expiry.reading(socket.authorize))
    # On the handshake threads, in one transaction with the other sockets' checks that wait;
    # a database error (4503) once it has no connection and no handshake read moves for
    # REALTIME_HANDSHAKE_DATABASE_TIMEOUT, as with Postgres away.
    refusal, until, pruned_below = await access_batches.resume_point(socket, authorize)
    if unread and refusal is None:
        refusal = user_found(socket)
    if refusal is None:
        held = socket.outbox.release()
        if unread:
            # Other users' topics' events came too while its own was unknown.
            own = topics_of(socket.scope, socket.topic, socket.user_id)
            held = [event for event in held if any(event.on(topic) for topic in own)]
        # A live region's outbox renders for its user.
        socket.outbox = fragments.outbox_for(socket.scope, socket.user_id, socket.outbox)
        socket.outbox.label = socket._label()
        for event in held:
            socket.outbox.hold(event)
    return refusal, until, pruned_below


def user_found(socket: Any) -> decisions.Close | None:
    """After the trip found a logged-in user the socket was waiting for: the cap, then its user's
    topic in place of every user topic (None: the socket may open). No await before joining, so
    two handshakes cannot both take a user's last place."""
    target = channel_layer.default()
    target.await_family(socket.channel_name, None)
    if over_cap(socket.user_id):
        return decisions.Close(decisions.Code.TOO_MANY_SOCKETS, "too many open sockets")
    target.join(topics.USER.name(socket.user_id), socket.channel_name)
    return None

"""A socket's session and user in one step: Channels' AuthMiddlewareStack, flat, for real-time sockets.

Each middleware of Channels' stack (cookies, session, user, and their base) awaits the next one
for as long as the socket stays open, each holding its own copy of the scope and the session's
send wrapper: with thousands of idle sockets open, kilobytes per socket are kept for a handshake
that is over. This wrapper finds the same session and user by Channels' steps (the user read
by one prepared statement where nothing customizes it: ``user_rows``), keeps one copy of
the scope, and wraps nothing: Channels saves a changed session only
on an HTTP response, so on a WebSocket its send wrapper has nothing to do.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from channels import auth
from django.conf import settings
from django.http import cookie
from django.utils import crypto

from listener.sockets import handshake_threads, user_rows

Scope = dict[str, Any]

# The scope key of a socket's `PendingUser` (``lazy_user``).
PENDING_USER = "realtime.pending_user"


class SocketAuth:
    """Put ``cookies``, ``session`` and ``user`` in a WebSocket's scope, as AuthMiddlewareStack does.

    With ``lazy_user=True`` the user is read later, where the socket's handshake reads its
    access: a `RealtimeConsumer` reads session, user, access and its resume point in one
    database trip instead of two, and ``scope["user"]`` is set when its ``authorize`` runs
    (``parse_topic`` runs before); any other consumer gets ``scope["user"]`` before it
    receives its first message, as before. An application between this and the consumer must
    then not read ``scope["user"]`` before that first message.
    """

    def __init__(self, inner: Any, *, lazy_user: bool = False) -> None:
        self.inner = inner
        self.lazy_user = lazy_user
        self.session_store: Any = importlib.import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            raise ValueError("SocketAuth serves WebSocket connections; HTTP goes to Django's own app")
        header = b"; ".join(value for name, value in scope.get("headers", []) if name == b"cookie")
        cookies = cookie.parse_cookie(header.decode("latin1"))
        scope = {
            **scope,
            "cookies": cookies,
            "session": self.session_store(cookies.get(settings.SESSION_COOKIE_NAME)),
        }
        if not self.lazy_user:
            scope["user"] = await _user(scope)
            await self.inner(scope, receive, send)
            return
        scope["user"] = auth.UserLazyObject()
        pending = PendingUser(scope, receive)
        scope[PENDING_USER] = pending
        await self.inner(scope, pending.receive, send)


class PendingUser:
    """A socket's user not read yet: read before the first message, unless a consumer that reads
    it itself took it (`take`). Lets go of the scope once read or taken: the scope holds it for
    as long as the socket stays open, and a cycle through it would wait for the collector."""

    __slots__ = ("raw_receive", "scope", "together", "user")

    def __init__(self, scope: Scope, receive: Any) -> None:
        self.scope: Scope | None = scope
        self.raw_receive = receive
        self.user: Any = None
        # Its session and user as a batch of handshakes read them (``lazy_user.read_together``).
        self.together: Any = None

    def take(self) -> Any:
        """The server's own ``receive``: the caller reads the user itself (`read_user`)."""
        self.scope = None
        return self.raw_receive

    async def receive(self) -> Any:
        message = await self.raw_receive()
        if self.scope is not None:
            scope, self.scope = self.scope, None
            self.user = scope["user"]._wrapped = await _user(scope)
        return message


async def _user(scope: Scope) -> Any:
    """Channels' own lookup (on a handshake thread): the session's user, checked against its auth hash.

    A database error propagates (the socket closes with 4503, never 4401: Channels' get_user
    turns only a missing session key into AnonymousUser), and so does a lookup that gets no
    connection in time (``handshake_threads.read``).
    """
    return await handshake_threads.read(functools.partial(read_user, scope), "session lookup")


def read_user(scope: Scope, users: dict[Any, Any] | None = None) -> Any:
    """``channels.auth.get_user``, step for step, with the user read by ``user_rows`` (or found
    in ``users``, read with a batch of handshakes' by ``user_rows.get_many``)."""
    # Imported here: they import Django's auth models, and `listener` imports before the app
    # registry is ready.
    from django.contrib import auth
    from django.contrib.auth import models

    session = scope["session"]
    user = None
    try:
        # Channels' reading of the id: to the primary key's Python type, as Django's auth does.
        user_id = auth.get_user_model()._meta.pk.to_python(session[auth.SESSION_KEY])
        backend_path = session[auth.BACKEND_SESSION_KEY]
    except KeyError:
        pass
    else:
        if backend_path in settings.AUTHENTICATION_BACKENDS:
            user = user_rows.get(auth.load_backend(backend_path), user_id, users)
            if hasattr(user, "get_session_auth_hash"):
                session_hash = session.get(auth.HASH_SESSION_KEY)
                verified = session_hash and crypto.constant_time_compare(
                    session_hash, user.get_session_auth_hash()
                )
                if not verified:
                    session.flush()
                    user = None
    return user or models.AnonymousUser()

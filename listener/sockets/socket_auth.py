"""A socket's session and user in one step: Channels' AuthMiddlewareStack, flat, for real-time sockets.

Each middleware of Channels' stack (cookies, session, user, and their base) awaits the next one
for as long as the socket stays open, each holding its own copy of the scope and the session's
send wrapper: with thousands of idle sockets open, kilobytes per socket are kept for a handshake
that is over. This wrapper finds the same session and user by Channels' steps
(``session_user``; the user read by one prepared statement where nothing customizes it, and a
crowd's sessions and users a batch at a time: ``access_batches``), keeps one copy of the scope,
and wraps nothing: Channels saves a changed session only on an HTTP response, so on a WebSocket
its send wrapper has nothing to do.
"""

from __future__ import annotations

import importlib
from typing import Any

from channels import auth
from django.conf import settings
from django.http import cookie

from listener.sockets import access_batches, session_user

Scope = session_user.Scope


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
            scope["user"] = await access_batches.user(scope, session_user.PendingUser(None))
            await self.inner(scope, receive, send)
            return
        scope["user"] = auth.UserLazyObject()
        pending = PendingUser(scope, receive)
        scope[session_user.PENDING_USER] = pending
        await self.inner(scope, pending.receive, send)


class PendingUser(session_user.PendingUser):
    """A socket's user not read yet: read before the first message, unless a consumer that reads
    it itself took it (`take`)."""

    __slots__ = ()

    async def receive(self) -> Any:
        message = await self.raw_receive()
        if self.scope is not None:
            scope, self.scope = self.scope, None
            self.user = scope["user"]._wrapped = await access_batches.user(scope, self)
        return message

"""A socket's user from its session, as Channels' ``get_user`` finds it, and the mark of one unread.

Below the modules that read users (``lazy_user``, ``access_batches``) and the middleware that
asks for them (``socket_auth``), so each can name the same steps without importing the others.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import crypto

from listener.sockets import user_rows

Scope = dict[str, Any]

# The scope key of a socket's `PendingUser`, while `SocketAuth(lazy_user=True)` leaves it unread.
PENDING_USER = "realtime.pending_user"


class PendingUser:
    """A socket's user not read yet. ``together``: its session and user as a batch of handshakes
    read them (``lazy_user.read_together``), for its own read to take; ``user`` once read.
    Lets go of the scope once read or taken: the scope holds it for as long as the socket stays
    open, and a cycle through it would wait for the collector."""

    __slots__ = ("raw_receive", "scope", "together", "user")

    def __init__(self, scope: Scope | None, receive: Any = None) -> None:
        self.scope = scope
        self.raw_receive = receive
        self.user: Any = None
        self.together: Any = None

    def take(self) -> Any:
        """The server's own ``receive``: the caller reads the user itself (`read_user`)."""
        self.scope = None
        return self.raw_receive


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

"""Closing a socket when its login session expires, not at the user's next HTTP request.

Django notices an expired session only when a request loads it; a socket makes no requests, so
without this it would go on receiving for as long as it stays open. Each socket reads its
session's ``expire_date`` in the snapshot of its access check and sets one timer on the event
loop for that moment. When the timer fires it reads the expiry again, since activity may have
extended it (``SESSION_SAVE_EVERY_REQUEST``): still in the future, the timer is set anew;
passed or gone, the socket closes with 4401. A session whose expiry moves earlier (an UPDATE
from anywhere) publishes on its session topic, and its sockets read it again at once
(`changed`). Only database-backed session stores have an ``expire_date`` to read; with any
other store, nothing is watched.
"""

from __future__ import annotations

import asyncio
import collections.abc
import datetime
import logging
from typing import Any

from channels.db import database_sync_to_async
from django.db import DatabaseError
from django.db.models import functions
from django.utils import timezone

from listener import session_rows
from listener.capture import topics
from listener.sockets import decisions, lifecycle

logger = logging.getLogger(__name__)

Authorize = collections.abc.Callable[[], decisions.Close | None]


class SessionExpiry:
    """One socket's timer for the end of its login session."""

    def __init__(self, socket: lifecycle.Socket) -> None:
        self.socket = socket
        self.expires: datetime.datetime | None = None
        # The expiry read with the session's row in the handshake's snapshot (``lazy_user``).
        self.preread: datetime.datetime | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._check: asyncio.Task[None] | None = None

    def reading(self, authorize: Authorize) -> Authorize:
        """``authorize``, then (if it lets the socket in) the session's expiry, in its transaction."""

        def authorize_and_read() -> decisions.Close | None:
            refusal = authorize()
            if refusal is None:
                self.expires = self.preread or self.read()
            return refusal

        return authorize_and_read

    def read(self) -> datetime.datetime | None:
        """The session's expiry now; the current time if its row is gone; None if not watched."""
        session: Any = self.socket.scope.get("session")
        model_of = getattr(session, "get_model_class", None)
        if model_of is None or not session.session_key:
            return None
        watched = self.socket.session_watch
        followed = watched.followed if watched is not None else None
        if followed is None:
            # Every handshake reads this: one statement built once, not a queryset per read.
            stored = session_rows.expiry(model_of(), session.session_key)
            return stored if stored is not None else timezone.now()
        # The key was cycled (a password change): the socket knows only the new key's topic,
        # named by its md5. A scan of the session table, once per cycle and expiry.
        digest = followed.removeprefix(topics.SESSION.prefix + "_")
        rows = (
            model_of()
            ._default_manager.annotate(realtime_key_md5=functions.MD5("session_key"))
            .filter(realtime_key_md5=digest)
        )
        found: datetime.datetime | None = rows.values_list("expire_date", flat=True).first()
        return found if found is not None else timezone.now()

    def arm(self) -> None:
        """Set the timer for the expiry read last (nothing when not watched)."""
        if self.expires is None:
            return
        loop = asyncio.get_running_loop()
        delay = max((self.expires - timezone.now()).total_seconds(), 0.0)
        self._timer = loop.call_at(loop.time() + delay, self._fired)

    def changed(self) -> None:
        """The session's expiry moved earlier (a trigger said so): read it again now rather than
        at the moment read before, and close or set the timer anew."""
        if self.expires is None:
            return
        self.cancel()
        self._fired()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._check is not None and self._check is not asyncio.current_task():
            self._check.cancel()

    def _fired(self) -> None:
        self._timer = None
        self._check = asyncio.get_running_loop().create_task(
            self._recheck(), name="session-expiry %s" % self.socket.channel_name
        )

    async def _recheck(self) -> None:
        try:
            expires = await database_sync_to_async(self.read)()
        except DatabaseError:
            logger.warning("socket %s: session expiry unreadable; closing", self.socket.channel_name)
            self.socket.revoke(decisions.Close(decisions.Code.UNAVAILABLE, "database unavailable, retry"))
            return
        if expires is not None and expires > timezone.now():
            self.expires = expires
            self.arm()
            return
        logger.info("socket %s: session expired", self.socket.channel_name)
        self.socket.revoke(decisions.Close(decisions.Code.NOT_LOGGED_IN, "session expired"))

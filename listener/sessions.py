"""A session engine that tells sockets when a session key is cycled rather than ended.

Django cycles a session's key on login and on ``update_session_auth_hash``: it saves the data
under a new key and deletes the old row. To a trigger that deletion looks like a logout. This
store deletes the old row in a transaction that names the new key's topic, so the sockets of
that session follow it instead of closing. Use it with ``SESSION_ENGINE = "listener.sessions"``.

It also reads a session by one statement built once (``listener.session_rows``) rather than a
queryset per read: every socket's handshake reads one, on Channels' single database thread.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib.sessions.backends import db as db_sessions
from django.db import connections, router, transaction
from django.utils import timezone

from listener import session_rows
from listener.capture import access, topics


class SessionStore(db_sessions.SessionStore):
    """Django's database session store; a cycled key names its successor."""

    _cycling = False
    # Whether a load has read the row, and its ``expire_date`` then (None: no unexpired row). A
    # socket's handshake loads the session in the snapshot of its access check, and its expiry
    # timer starts from this value instead of a statement of its own.
    row_read = False
    row_expiry: datetime.datetime | None = None

    def _get_session_from_db(self) -> Any:
        """Django's read, by one prepared statement: the unexpired row, or None (and no key)."""
        if self.session_key is None:
            return None
        found = session_rows.live(self.model, self.session_key, timezone.now())
        self._found(found)
        return found

    def loaded_from(self, found: Any, data: dict[str, Any]) -> None:
        """Loaded as if by a read that found ``found`` (this key's unexpired row, or None), whose
        data decodes to ``data``: a batch of handshakes reads their sessions in one statement
        (``lazy_user.read_together``)."""
        self._found(found)
        self._session_cache = data

    def _found(self, found: Any) -> None:
        self.row_read = True
        self.row_expiry = None if found is None else found.expire_date
        if found is None:
            self._session_key = None

    def cycle_key(self) -> None:
        self._cycling = True
        try:
            super().cycle_key()
        finally:
            self._cycling = False

    def delete(self, session_key: str | None = None) -> None:
        if not self._cycling or session_key is None or self.session_key is None:
            super().delete(session_key)
            return
        using = router.db_for_write(self.model)
        with transaction.atomic(using=using):
            with connections[using].cursor() as cur:
                cur.execute(
                    "SELECT set_config(%s, %s, true)",
                    [access.SUCCESSOR_SETTING, topics.SESSION.name(self.session_key)],
                )
            super().delete(session_key)

"""Who may see what: the access of one user to one room, asked at connect and as it changes."""

from __future__ import annotations

import dataclasses
import functools

from django.db import connection

from chat import models


@dataclasses.dataclass
class RoomAccess:
    """A user's standing in a room; read again when a grant of the room changes (listener.Grants)."""

    user_id: int
    room_id: int
    owner_id: int
    is_member: bool
    # The xid8 of the transaction that granted the access the user has now: for the owner, the
    # room's creation or last change of owner (what owners see, members do not); for a member,
    # the membership's insert. None without access.
    since: int | None = None

    @classmethod
    def load(cls, user_id: int, room_id: int) -> RoomAccess | None:
        """None when the room does not exist. Every socket's handshake asks this, on Channels'
        single database thread: one statement, built once, not two querysets per ask."""
        with connection.cursor() as cur:
            cur.execute(_load_statement(), [user_id, room_id])
            row = cur.fetchone()
        if row is None:
            return None
        owner_id, owner_since, granted = row
        found = cls(user_id, room_id, owner_id, granted is not None)
        # xid8 reaches a raw cursor as text; the ORM's Xid8Field would give an int.
        since = owner_since if found.is_owner else granted
        found.since = None if since is None else int(since)
        return found

    @property
    def is_owner(self) -> bool:
        return self.user_id == self.owner_id

    @property
    def may_subscribe(self) -> bool:
        """The room topic is for its owner and members."""
        return self.is_owner or self.is_member

    @property
    def sees_join_requests(self) -> bool:
        """Join requests are the owner's business only."""
        return self.is_owner


@functools.cache
def _load_statement() -> str:
    """The room's owner and owner's grant, and the user's membership grant (NULL: none)."""

    def quote(name: str | None) -> str:
        return connection.ops.quote_name(str(name))

    room = models.ChatRoom._meta
    member = models.ChatRoomMembership._meta
    return (
        "SELECT r.%s, r.%s, m.%s FROM %s r LEFT JOIN %s m ON m.%s = r.%s AND m.%s = %%s WHERE r.%s = %%s"
        % (
            quote(room.get_field("owner").column),
            quote(room.get_field("owner_since").column),
            quote(member.get_field("granted").column),
            quote(room.db_table),
            quote(member.db_table),
            quote(member.get_field("chatroom").column),
            quote(room.pk.column),
            quote(member.get_field("user").column),
            quote(room.pk.column),
        )
    )

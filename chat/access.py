"""Who may see what: the access of one user to one room, asked at connect and as it changes."""

from __future__ import annotations

import dataclasses

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
        """None when the room does not exist."""
        room = models.ChatRoom.objects.filter(pk=room_id).values("owner_id", "owner_since").first()
        if room is None:
            return None
        granted = (
            models.ChatRoomMembership.objects.filter(chatroom_id=room_id, user_id=user_id)
            .values_list("granted", flat=True)
            .first()
        )
        found = cls(user_id, room_id, room["owner_id"], granted is not None)
        found.since = room["owner_since"] if found.is_owner else granted
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

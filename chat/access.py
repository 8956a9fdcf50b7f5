"""Who may see what: the access of one user to one room, asked at connect and as it changes."""

from __future__ import annotations

import dataclasses

from chat import models


@dataclasses.dataclass
class RoomAccess:
    """A user's standing in a room; updated in place by the room's own events."""

    user_id: int
    room_id: int
    owner_id: int
    is_member: bool

    @classmethod
    def load(cls, user_id: int, room_id: int) -> RoomAccess | None:
        """None when the room does not exist."""
        room = models.ChatRoom.objects.filter(pk=room_id).values("owner_id").first()
        if room is None:
            return None
        member = models.ChatRoomMembership.objects.filter(chatroom_id=room_id, user_id=user_id).exists()
        return cls(user_id, room_id, room["owner_id"], member)

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

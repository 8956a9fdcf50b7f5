"""The two topics of the chat: a room's activity and a user's own join requests."""

from __future__ import annotations

from channels.generic.websocket import AsyncWebsocketConsumer

import listener
from chat import access, topics
from listener import Close, Code, Decision, LogEvent, RealtimeConsumer, Verdict


class RoomConsumer(RealtimeConsumer):
    """``/ws/room/<room_id>``: messages, members, who is online and, for the owner, join requests."""

    # Owner and members count as online in the room while one of their sockets on it is open.
    presence = listener.Presence(key="room")
    room_access: access.RoomAccess

    def parse_topic(self) -> str:
        self.room_id = topics.ROOM.parse(self.scope["url_route"]["kwargs"]["room_id"])
        return topics.ROOM.name(self.room_id)

    def authorize(self) -> Close | None:
        assert self.user_id is not None  # authorize runs after the handshake found the user
        found = access.RoomAccess.load(self.user_id, self.room_id)
        if found is None:
            return Close(Code.NOT_FOUND, "no such room")
        if not found.may_subscribe:
            return Close(Code.FORBIDDEN, "not a member of this room")
        self.room_access = found
        self.access_since = found.since
        return None

    def on_chat_message_created(self, event: LogEvent) -> Decision:
        return Verdict.SEND

    def on_chat_message_updated(self, event: LogEvent) -> Decision:
        return Verdict.SEND

    def on_chat_message_deleted(self, event: LogEvent) -> Decision:
        return Verdict.SEND

    def on_did_alter_join_request(self, event: LogEvent) -> Decision:
        return Verdict.SEND if self.room_access.sees_join_requests else Verdict.SKIP

    def on_did_alter_presence(self, event: LogEvent) -> Decision:
        return Verdict.SEND

    # Losing access is declared, not handled here: the membership and the owner column are
    # ``listener.Grants``, so removing this user or changing the owner makes the consumer base
    # run `authorize` again (holding later events meanwhile) and close with its refusal.

    def on_did_alter_membership(self, event: LogEvent) -> Decision:
        return Verdict.SEND

    def on_room_changed(self, event: LogEvent) -> Decision:
        # A change of owner re-checks access through the owner's grant; the title is for home pages.
        return Verdict.SKIP

    def on_room_deleted(self, event: LogEvent) -> Decision:
        return Close(Code.NOT_FOUND, "room deleted")


class UserConsumer(RealtimeConsumer):
    """``/ws/user/<user_id>``: the user's own join requests and rooms (for the home page)."""

    def parse_topic(self) -> str:
        self.topic_user_id = topics.USER.parse(self.scope["url_route"]["kwargs"]["user_id"])
        return topics.USER.name(self.topic_user_id)

    def authorize(self) -> Close | None:
        if self.topic_user_id != self.user_id:
            return Close(Code.FORBIDDEN, "this is another user's topic")
        return None

    def on_did_alter_join_request(self, event: LogEvent) -> Decision:
        return Verdict.SEND

    def on_did_alter_room(self, event: LogEvent) -> Decision:
        # Published on this user's topic only when the room is theirs (owner or member); the
        # join code travels only on create, which goes to the owner alone.
        return Verdict.SEND


class UnknownTopicConsumer(AsyncWebsocketConsumer):
    """Any other ``/ws/`` path: accepted, then closed with 4404 so the page can tell why."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=int(Code.NOT_FOUND), reason="no such topic")

"""What each chat event tells a page, and to which topics it goes: the payloads that
``chat/models.py`` declares on its triggers. Payload ids are strings, as pages receive them."""

from __future__ import annotations

import pgtrigger

import listener
from chat import topics


def message_payload() -> listener.Payload:
    """What a page shows of a message: ids as strings, the sender's username through the FK."""
    return {
        "id": "id",
        "room": "room",
        "sender": {"id": "sender", "username": "sender.username"},
        "posted": "posted",
        "message": "message",
    }


def membership_payload(action: str) -> listener.Payload:
    return {
        "action": listener.Const(action),
        "room": "chatroom",
        "user": {"id": "user", "username": "user.username"},
    }


# The home page's rooms: a room appears, is renamed or goes on its owner's and members' user topics.
HOME_EVENT = "did_alter_room"
MEMBERS_HOME = topics.USER.via("chatroommembership", "user")


def home_room_payload(action: str, join_code: bool = False) -> listener.Payload:
    """What the home page lists of a room; the join code only on create, which goes to the owner."""
    room: listener.Payload = {"id": "id", "title": "title"}
    if join_code:
        room = {**room, "join_code": "join_code"}
    return {"action": listener.Const(action), "room": room, "owner": "owner"}


def home_membership_payload(action: str) -> listener.Payload:
    return {
        "action": listener.Const(action),
        "room": {"id": "chatroom", "title": "chatroom.title"},
        "owner": "chatroom.owner",
    }


# The owner sees requests on the room topic, the requester on their user topic.
JOIN_REQUEST_TOPICS = [topics.ROOM.of("room"), topics.USER.of("user")]


def decided(status: str) -> pgtrigger.Condition:
    """A request's status became ``status`` (admitted or denied), by any write path."""
    return pgtrigger.Q(old__status__df=pgtrigger.F("new__status"), new__status=status)


def join_request_payload(action: str) -> listener.Payload:
    """The room it is for and, on create only, who asks (null otherwise)."""
    requester = {
        "id": "user",
        "username": "user.username",
        "first_name": "user.first_name",
        "last_name": "user.last_name",
    }
    return {
        "id": "id",
        "action": listener.Const(action),
        "status": "status",
        "user": "user",
        "room": {"id": "room", "title": "room.title"},
        "requesting_user": requester if action == "create" else None,
    }

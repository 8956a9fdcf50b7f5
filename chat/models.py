"""Private chat rooms, their messages and join requests, with the triggers that publish changes.

Every change is captured by a row trigger, so a view, the admin, ``QuerySet.update()``, a shell
or raw SQL all publish the same events. Each model declares in ``Meta.triggers`` what it
publishes (``listener.Publish``: event type, topics, payload by field name); the library builds
the trigger bodies. Who may see an event is decided in Python, by the consumers. Payload ids are
strings, as pages receive them.
"""

from __future__ import annotations

import secrets

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import functions

import listener
from chat import payloads, topics


def new_join_code() -> str:
    return secrets.token_urlsafe(6)


class ChatRoom(models.Model):
    """A private room: its owner admits members through join requests."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="owned_room_set", on_delete=models.CASCADE
    )
    title = models.CharField(max_length=50)
    join_code = models.CharField(
        max_length=32,
        unique=True,
        default=new_join_code,
        db_default=functions.Substr(
            functions.MD5(functions.Cast(functions.Random(), models.TextField())), 1, 10
        ),
    )
    member_set = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="joined_room_set",
        blank=True,
        through="ChatRoomMembership",
    )
    created = models.DateTimeField(db_default=functions.Now())
    # The transaction that made the current owner the owner (creation or the last change of
    # owner): a replay to the owner never reaches back before it (consumers, `access_since`).
    owner_since = listener.Xid8Field(editable=False, db_default=listener.current_xact_id())

    class Meta:
        triggers = [
            # A change of owner, by any write path, stamps the new owner's grant.
            pgtrigger.Trigger(
                name="stamp_owner_since",
                when=pgtrigger.Before,
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__owner__df=pgtrigger.F("new__owner")),
                func=pgtrigger.Func(  # type: ignore[no-untyped-call]
                    "NEW.{columns.owner_since} := pg_current_xact_id(); RETURN NEW;"
                ),
            ),
            # The owner may follow the room's topic: a change of owner re-checks the access of the
            # old and the new owner's sockets on it (the old one's closes unless a member).
            listener.Grants(name="grants_room_to_owner", topic=topics.ROOM.of("id"), user="owner"),
            # Pages on this room's topic must close when it goes.
            listener.Publish(
                name="emit_room_deleted",
                operation=pgtrigger.Delete,
                event="room_deleted",
                topics=[topics.ROOM.of("id")],
                payload={"id": "id"},
            ),
            listener.Publish(
                name="emit_room_changed",
                operation=pgtrigger.Update,
                condition=listener.changed("owner", "title"),
                event="room_changed",
                topics=[topics.ROOM.of("id")],
                payload={"id": "id", "owner": "owner", "title": "title"},
            ),
            # The home pages: the owner's on create; owner's and members' on rename and delete
            # (a delete through the ORM removes the memberships first, which tell each member).
            listener.Publish(
                name="home_room_created",
                operation=pgtrigger.Insert,
                event=payloads.HOME_EVENT,
                topics=[topics.USER.of("owner")],
                payload=payloads.home_room_payload("create", join_code=True),
            ),
            listener.Publish(
                name="home_room_renamed",
                operation=pgtrigger.Update,
                condition=listener.changed("title"),
                event=payloads.HOME_EVENT,
                topics=[topics.USER.of("owner"), payloads.MEMBERS_HOME],
                payload=payloads.home_room_payload("rename"),
            ),
            listener.Publish(
                name="home_room_deleted",
                operation=pgtrigger.Delete,
                event=payloads.HOME_EVENT,
                topics=[topics.USER.of("owner"), payloads.MEMBERS_HOME],
                payload=payloads.home_room_payload("delete"),
            ),
        ]

    def __str__(self) -> str:
        return self.title


class ChatRoomMembership(models.Model):
    """A user's membership of a room (the ``member_set`` table, with its triggers)."""

    chatroom = models.ForeignKey(ChatRoom, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    joined = models.DateTimeField(db_default=functions.Now())
    # The transaction that granted the membership: a replay to this member never reaches back
    # before it (consumers, `access_since`).
    granted = listener.Xid8Field(editable=False, db_default=listener.current_xact_id())

    class Meta:
        db_table = "chat_chatroom_member_set"
        constraints = [models.UniqueConstraint(fields=["chatroom", "user"], name="chat_member_once_per_room")]
        triggers = [
            listener.Publish(
                name="emit_membership_join",
                operation=pgtrigger.Insert,
                event="did_alter_membership",
                topics=[topics.ROOM.of("chatroom")],
                payload=payloads.membership_payload("join"),
            ),
            listener.Publish(
                name="emit_membership_leave",
                operation=pgtrigger.Delete,
                event="did_alter_membership",
                topics=[topics.ROOM.of("chatroom")],
                payload=payloads.membership_payload("leave"),
            ),
            # Members may follow the room's topic: removing one (or moving the row) re-checks the
            # access of that member's sockets on it, which close with 4403 unless they own the room.
            # Named to fire after did_alter_membership, which the removed member still sees.
            listener.Grants(name="grants_room_to_member", topic=topics.ROOM.of("chatroom"), user="user"),
            # The member's own home page gains or loses the room.
            listener.Publish(
                name="home_membership_join",
                operation=pgtrigger.Insert,
                event=payloads.HOME_EVENT,
                topics=[topics.USER.of("user")],
                payload=payloads.home_membership_payload("join"),
            ),
            listener.Publish(
                name="home_membership_leave",
                operation=pgtrigger.Delete,
                event=payloads.HOME_EVENT,
                topics=[topics.USER.of("user")],
                payload=payloads.home_membership_payload("leave"),
            ),
        ]

    def __str__(self) -> str:
        return "%s in %s" % (self.user_id, self.chatroom_id)


class ChatMessage(models.Model):
    """A message posted to a room."""

    room = models.ForeignKey(ChatRoom, related_name="message_set", on_delete=models.CASCADE)
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="message_set", on_delete=models.CASCADE)
    posted = models.DateTimeField(db_default=functions.Now())
    message = models.CharField(max_length=200)

    class Meta:
        ordering = ["posted", "id"]
        triggers = [
            listener.Publish(
                name="emit_message_created",
                operation=pgtrigger.Insert,
                event="chat_message_created",
                topics=[topics.ROOM.of("room")],
                payload=payloads.message_payload(),
            ),
            listener.Publish(
                name="emit_message_updated",
                operation=pgtrigger.Update,
                condition=listener.changed(),
                event="chat_message_updated",
                topics=[topics.ROOM.of("room")],
                payload=payloads.message_payload(),
            ),
            listener.Publish(
                name="emit_message_deleted",
                operation=pgtrigger.Delete,
                event="chat_message_deleted",
                topics=[topics.ROOM.of("room")],
                payload={"id": "id", "room": "room"},
            ),
        ]

    def __str__(self) -> str:
        return self.message


class ChatRoomJoinRequest(models.Model):
    """A user's request to join a room, decided by its owner."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ADMITTED = "admitted", "Admitted"
        DENIED = "denied", "Denied"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="join_request_set", on_delete=models.CASCADE
    )
    room = models.ForeignKey(ChatRoom, related_name="join_request_set", on_delete=models.CASCADE)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_default=Status.PENDING
    )
    created = models.DateTimeField(db_default=functions.Now())
    decided = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "room"],
                condition=models.Q(status="pending"),
                name="chat_one_pending_request_per_user_room",
                violation_error_message="This user already has a pending request to join this room.",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "admitted", "denied"]),
                name="chat_join_request_status_valid",
                violation_error_message="Status must be pending, admitted or denied.",
            ),
        ]
        triggers = [
            listener.Publish(
                name="emit_join_request_created",
                operation=pgtrigger.Insert,
                event="did_alter_join_request",
                topics=payloads.JOIN_REQUEST_TOPICS,
                payload=payloads.join_request_payload("create"),
            ),
            listener.Publish(
                name="emit_join_request_admitted",
                operation=pgtrigger.Update,
                condition=payloads.decided("admitted"),
                event="did_alter_join_request",
                topics=payloads.JOIN_REQUEST_TOPICS,
                payload=payloads.join_request_payload("admit"),
            ),
            listener.Publish(
                name="emit_join_request_denied",
                operation=pgtrigger.Update,
                condition=payloads.decided("denied"),
                event="did_alter_join_request",
                topics=payloads.JOIN_REQUEST_TOPICS,
                payload=payloads.join_request_payload("deny"),
            ),
            # Any path that deletes a request (admin, bulk, QuerySet.delete(), SQL) tells both sides.
            listener.Publish(
                name="emit_join_request_deleted",
                operation=pgtrigger.Delete,
                event="did_alter_join_request",
                topics=payloads.JOIN_REQUEST_TOPICS,
                payload=payloads.join_request_payload("delete"),
            ),
            # Admission is a database rule, so the admin, update() and raw SQL all grant membership,
            # in the same transaction. Named to fire after the event above (triggers fire by name).
            pgtrigger.Trigger(
                name="grant_membership_on_admit",
                when=pgtrigger.After,
                operation=pgtrigger.Update,
                condition=pgtrigger.Condition(
                    "OLD.status IS DISTINCT FROM NEW.status AND NEW.status = 'admitted'"
                ),
                func=pgtrigger.Func(  # type: ignore[no-untyped-call]
                    "INSERT INTO chat_chatroom_member_set (chatroom_id, user_id)"
                    " VALUES (NEW.{fields.room.column}, NEW.{fields.user.column})"
                    " ON CONFLICT DO NOTHING; RETURN NULL;"
                ),
            ),
        ]

    def __str__(self) -> str:
        return "%s -> %s (%s)" % (self.user_id, self.room_id, self.status)

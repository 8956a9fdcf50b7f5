"""Private chat rooms, their messages and join requests, with the triggers that publish changes.

Every change is captured by a row trigger, so a view, the admin, ``QuerySet.update()``, a shell
or raw SQL all publish the same events. Each trigger body is one call to
``realtime_append_event_v2(topics, type, payload)`` (``sql/``); who may see an event is decided
in Python, by the consumers. Payload ids are strings, as pages receive them.
"""

from __future__ import annotations

import secrets

import pgtrigger
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import models
from django.db.models import functions

ROOM_TOPIC = "'room_' || {row}.{fields.room.column}"


def _emit(topics: str, event_type: str, payload: str, row: str = "NEW") -> pgtrigger.Func:
    """A trigger body appending one event; ``{row}`` is NEW or OLD, the rest is pgtrigger's Func."""
    call = "PERFORM realtime_append_event_v2(ARRAY[%s], '%s', %s); RETURN NULL;" % (
        topics,
        event_type,
        payload,
    )
    return pgtrigger.Func(call.replace("{row}", row))


def new_join_code() -> str:
    return secrets.token_urlsafe(6)


MESSAGE_PAYLOAD = (
    "jsonb_build_object('id', {row}.id::text, 'room', {row}.{fields.room.column}::text,"
    " 'sender', jsonb_build_object('id', {row}.{fields.sender.column}::text,"
    " 'username', (SELECT username FROM auth_user WHERE id = {row}.{fields.sender.column})),"
    " 'posted', {row}.{fields.posted.column}, 'message', {row}.{fields.message.column})"
)


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

    class Meta:
        triggers = [
            # Pages on this room's topic must close when it goes or its owner changes.
            pgtrigger.Trigger(
                name="emit_room_deleted",
                when=pgtrigger.After,
                operation=pgtrigger.Delete,
                func=_emit("'room_' || OLD.id", "room_deleted", "jsonb_build_object('id', OLD.id::text)"),
            ),
            pgtrigger.Trigger(
                name="emit_room_changed",
                when=pgtrigger.After,
                operation=pgtrigger.Update,
                condition=pgtrigger.Condition(
                    "OLD.owner_id IS DISTINCT FROM NEW.owner_id OR OLD.title IS DISTINCT FROM NEW.title"
                ),
                func=_emit(
                    "'room_' || NEW.id",
                    "room_changed",
                    "jsonb_build_object('id', NEW.id::text, 'owner', NEW.{fields.owner.column}::text,"
                    " 'title', NEW.{fields.title.column})",
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.title


class ChatRoomMembership(models.Model):
    """A user's membership of a room (the ``member_set`` table, with its triggers)."""

    chatroom = models.ForeignKey(ChatRoom, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    joined = models.DateTimeField(db_default=functions.Now())

    class Meta:
        db_table = "chat_chatroom_member_set"
        constraints = [models.UniqueConstraint(fields=["chatroom", "user"], name="chat_member_once_per_room")]
        triggers = [
            pgtrigger.Trigger(
                name="emit_membership_join",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                func=_emit(
                    "'room_' || NEW.{fields.chatroom.column}",
                    "did_alter_membership",
                    "jsonb_build_object('action', 'join', 'room', NEW.{fields.chatroom.column}::text,"
                    " 'user', jsonb_build_object('id', NEW.{fields.user.column}::text, 'username',"
                    " (SELECT username FROM auth_user WHERE id = NEW.{fields.user.column})))",
                ),
            ),
            pgtrigger.Trigger(
                name="emit_membership_leave",
                when=pgtrigger.After,
                operation=pgtrigger.Delete,
                func=_emit(
                    "'room_' || OLD.{fields.chatroom.column}",
                    "did_alter_membership",
                    "jsonb_build_object('action', 'leave', 'room', OLD.{fields.chatroom.column}::text,"
                    " 'user', jsonb_build_object('id', OLD.{fields.user.column}::text, 'username',"
                    " (SELECT username FROM auth_user WHERE id = OLD.{fields.user.column})))",
                ),
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
            pgtrigger.Trigger(
                name="emit_message_created",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                func=_emit(ROOM_TOPIC, "chat_message_created", MESSAGE_PAYLOAD),
            ),
            pgtrigger.Trigger(
                name="emit_message_updated",
                when=pgtrigger.After,
                operation=pgtrigger.Update,
                condition=pgtrigger.Condition("OLD.* IS DISTINCT FROM NEW.*"),
                func=_emit(ROOM_TOPIC, "chat_message_updated", MESSAGE_PAYLOAD),
            ),
            pgtrigger.Trigger(
                name="emit_message_deleted",
                when=pgtrigger.After,
                operation=pgtrigger.Delete,
                func=_emit(
                    ROOM_TOPIC,
                    "chat_message_deleted",
                    "jsonb_build_object('id', {row}.id::text, 'room', {row}.{fields.room.column}::text)",
                    row="OLD",
                ),
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
            pgtrigger.Trigger(
                name="emit_join_request_created",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                func=_emit(
                    "'room_' || NEW.{fields.room.column}, 'user_' || NEW.{fields.user.column}",
                    "did_alter_join_request",
                    "realtime_join_request_payload_v1(NEW.id, 'create')",
                ),
            ),
            pgtrigger.Trigger(
                name="emit_join_request_decided",
                when=pgtrigger.After,
                operation=pgtrigger.Update,
                condition=pgtrigger.Condition(
                    "OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN ('admitted', 'denied')"
                ),
                func=_emit(
                    "'room_' || NEW.{fields.room.column}, 'user_' || NEW.{fields.user.column}",
                    "did_alter_join_request",
                    "realtime_join_request_payload_v1(NEW.id,"
                    " CASE NEW.status WHEN 'admitted' THEN 'admit' ELSE 'deny' END)",
                ),
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
                func=pgtrigger.Func(
                    "INSERT INTO chat_chatroom_member_set (chatroom_id, user_id)"
                    " VALUES (NEW.{fields.room.column}, NEW.{fields.user.column})"
                    " ON CONFLICT DO NOTHING; RETURN NULL;"
                ),
            ),
        ]

    def __str__(self) -> str:
        return "%s -> %s (%s)" % (self.user_id, self.room_id, self.status)


class UserAccessTriggers(User):
    """Publishes a user's loss of access (deactivated, deleted) so their open sockets close."""

    class Meta:
        proxy = True
        triggers = [
            pgtrigger.Trigger(
                name="emit_user_deactivated",
                when=pgtrigger.After,
                operation=pgtrigger.Update,
                condition=pgtrigger.Condition("OLD.is_active AND NOT NEW.is_active"),
                func=_emit(
                    "'user_' || NEW.id", "user_access_revoked", "jsonb_build_object('id', NEW.id::text)"
                ),
            ),
            pgtrigger.Trigger(
                name="emit_user_deleted",
                when=pgtrigger.After,
                operation=pgtrigger.Delete,
                func=_emit(
                    "'user_' || OLD.id", "user_access_revoked", "jsonb_build_object('id', OLD.id::text)"
                ),
            ),
        ]


class SessionEndTriggers(Session):
    """Publishes the end of a login session (logout, flush) so that session's sockets close."""

    class Meta:
        proxy = True
        triggers = [
            pgtrigger.Trigger(
                name="emit_session_ended",
                when=pgtrigger.After,
                operation=pgtrigger.Delete,
                func=_emit(
                    "'session_' || md5(OLD.session_key)",
                    "session_ended",
                    "'{{}}'::jsonb",
                ),
            ),
        ]

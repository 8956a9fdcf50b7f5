"""Access an app grants with its own rows: which rows give which user which topic.

``Grants`` sits in a model's ``Meta.triggers`` beside ``Publish``: a membership row ``(user,
room)`` grants ``room_<room>`` to ``user`` (``Grants(name=..., topic=ROOM.of("room"),
user="user")``); a room's ``owner`` column grants ``room_<id>`` to the owner. When such a row is
deleted, or its user or topic column changes, by any write path (the ORM, ``update()``, the
admin, raw SQL), its trigger appends one ``realtime_access_changed`` event per row to the topic
(old and new, when it moved) naming the users whose access may have changed. The consumer base
reacts (``listener.sockets.recheck``): the sockets of those users on that topic hold their
events, run ``authorize()`` again, and go on or close with its verdict, so an app declares its
grants instead of handling events to revoke them.

Inserts publish nothing: a row that grants access cannot take any away, and a page that gains
access opens its socket afterwards.
"""

from __future__ import annotations

from typing import Any

import pgtrigger
from django.db import models
from psycopg import sql

from listener.capture import publishing, topics

ACCESS_CHANGED = "realtime_access_changed"


class Grants(pgtrigger.Trigger):
    """A row trigger that tells a topic's sockets to re-check access when a granting row goes or changes."""

    when = pgtrigger.After

    def __init__(self, *, name: str, topic: topics.TopicOf, user: str) -> None:
        if not isinstance(topic, topics.TopicOf):
            raise TypeError("Grants %s: topic is a Topic.of(field), not %r" % (name, topic))
        if not user:
            raise ValueError("Grants %s: names no user field" % name)
        self.topic = topic
        self.user = user
        super().__init__(name=name, operation=pgtrigger.Update | pgtrigger.Delete, level=pgtrigger.Row)

    def get_func(self, model: Any) -> str:
        return render(model, self.topic, self.user)


def render(model: type[models.Model], topic: topics.TopicOf, user: str) -> str:
    """The body: on delete, the old row's user and topic; on update, old and new, if either changed."""
    topic_column = sql.Identifier(_column(model, topic.field))
    user_column = sql.Identifier(_column(model, user))

    def of(row: str) -> tuple[sql.Composable, sql.Composable]:
        at = sql.SQL(row)
        name = topic.topic.sql(sql.SQL("{}.{}").format(at, topic_column))
        return name, sql.SQL("{}.{}::text").format(at, user_column)

    (old_topic, old_user), (new_topic, new_user) = of("OLD"), of("NEW")
    deleted = _append(
        sql.SQL("ARRAY[{}]").format(old_topic), sql.SQL("jsonb_build_array({})").format(old_user)
    )
    changed = _append(
        _distinct(old_topic, new_topic), sql.SQL("to_jsonb({})").format(_distinct(old_user, new_user))
    )
    body = sql.SQL(
        "IF TG_OP = 'DELETE' THEN {deleted}"
        " ELSIF OLD.{t} IS DISTINCT FROM NEW.{t} OR OLD.{u} IS DISTINCT FROM NEW.{u} THEN {changed}"
        " END IF; RETURN NULL;"
    ).format(deleted=deleted, changed=changed, t=topic_column, u=user_column)
    return body.as_string(None)


def _append(topic_array: sql.Composable, users: sql.Composable) -> sql.Composable:
    return sql.SQL("PERFORM {}({}::text[], {}, jsonb_build_object('users', {}));").format(
        publishing.APPEND_EVENT, topic_array, sql.Literal(ACCESS_CHANGED), users
    )


def _distinct(old: sql.Composable, new: sql.Composable) -> sql.Composable:
    """``ARRAY[old, new]``, or ``ARRAY[old]`` when they are equal (a topic is not listed twice)."""
    return sql.SQL("CASE WHEN {o} IS NOT DISTINCT FROM {n} THEN ARRAY[{o}] ELSE ARRAY[{o}, {n}] END").format(
        o=old, n=new
    )


def _column(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.column or field.many_to_many:
        raise ValueError("%s.%s is not a column of %s" % (model.__name__, name, model._meta.db_table))
    return field.column

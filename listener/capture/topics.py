"""Topic names, defined once: the trigger that publishes and the consumer that subscribes agree.

A topic is ``<prefix>_<key>``: ``room_5``, ``user_7``. The same [`Topic`][listener.Topic] renders
the name in SQL (inside a trigger body, from a column of the row) and in Python (from a URL or a
user), so the format lives in one place.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable
from typing import Any

from django.contrib import auth
from django.core import exceptions
from psycopg import sql

_PREFIX = re.compile(r"^[a-z][a-z0-9]*$")


class InvalidTopicKey(ValueError):
    """The URL named a topic key that this topic does not accept."""


@dataclasses.dataclass(frozen=True)
class Topic:
    """A family of topics, ``<prefix>_<key>``, keyed by one column of a model.

    ``key_type`` parses keys from URLs (``int`` for ids, ``uuid.UUID`` for UUID keys, ``str``);
    ``hashed`` names the topic by the md5 of the key instead of the key, for keys that are secrets
    (session keys). A key becomes the name's text by ``str()``, which for ints, UUIDs and strings
    is the text Postgres's ``::text`` gives in the trigger.
    """

    prefix: str
    key_type: Callable[[str], Any] = int
    hashed: bool = False

    def __post_init__(self) -> None:
        if not _PREFIX.match(self.prefix):
            raise ValueError("topic prefix %r must be lowercase letters and digits" % self.prefix)

    def name(self, key: Any) -> str:
        """The group name of the topic for ``key``, as the trigger writes it."""
        text = str(key)
        if self.hashed:
            text = hashlib.md5(text.encode()).hexdigest()
        return "%s_%s" % (self.prefix, text)

    def parse(self, value: str) -> Any:
        """A URL segment's typed key; raises [`InvalidTopicKey`][listener.InvalidTopicKey] otherwise."""
        try:
            return self.key_type(value)
        except (TypeError, ValueError, exceptions.ValidationError) as exc:
            raise InvalidTopicKey("%r is not a %s key" % (value, self.prefix)) from exc

    def of(self, field: str) -> TopicOf:
        """The topic named by ``field`` of the published row (``"id"``, ``"room"``)."""
        return TopicOf(self, field)

    def via(self, relation: str, field: str) -> TopicsVia:
        """One topic per related row: ``field`` of each row of the reverse relation ``relation``.

        A room's rename reaches every member's user topic with
        ``USER.via("chatroommembership", "user")``: the rows are read in the writing
        transaction, so the set is exactly the members at that moment. Still one event.
        """
        return TopicsVia(self, relation, field)

    def sql(self, column: sql.Composable) -> sql.Composed:
        """The topic name as a SQL expression of ``column`` (e.g. ``NEW."room_id"``)."""
        key: sql.Composable = sql.SQL("{}::text").format(column)
        if self.hashed:
            key = sql.SQL("md5({})").format(key)
        return sql.SQL("{} || {}").format(sql.Literal(self.prefix + "_"), key)


@dataclasses.dataclass(frozen=True)
class TopicOf:
    """One topic of a published event: a [`Topic`][listener.Topic] keyed by a field of the row."""

    topic: Topic
    field: str


@dataclasses.dataclass(frozen=True)
class TopicsVia:
    """The topics of an event named by a set of related rows (see [`Topic.via`][listener.Topic.via])."""

    topic: Topic
    relation: str
    field: str


# The library's own topics: every socket of a user, and every socket of one login session, joins
# these, so that logging out, deactivation and password changes reach them.
def user_key(value: str) -> Any:
    """A user id from a URL, typed as AUTH_USER_MODEL's primary key (int, UUID, string)."""
    field = auth.get_user_model()._meta.pk
    assert field is not None
    return field.to_python(value)


USER = Topic("user", key_type=user_key)
SESSION = Topic("session", key_type=str, hashed=True)

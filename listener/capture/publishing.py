"""Declarative publishing: a model says in ``Meta.triggers`` what its changes publish.

``Publish`` is a django-pgtrigger trigger whose body is built from field names: one call to
``realtime_append_event_v2(topics, type, payload)``, which appends the event to the log and
wakes the listeners. Tables and columns come from the models' meta and are quoted as
identifiers; keys, event types and constants are quoted as literals; nothing from a declaration
is pasted into SQL as text. Deletes read the old row, every other operation the new one.

A payload is a dict from key to:

- a field path: ``"title"``, ``"room"`` (a foreign key: the related id), or ``"sender.username"``
  (follows the foreign key through the related model's table, whatever model it is);
- a nested dict (a nested JSON object);
- [`Const`][listener.Const] (a constant) or ``None`` (JSON null);
- a ``psycopg.sql.Composable``, for the rare value that is genuinely SQL.

Primary keys and foreign keys are published as strings, as pages receive ids; other fields as
Postgres converts them to JSON.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Union

import pgtrigger
from django.db import models
from psycopg import sql

from listener.capture import topics as _topics

PayloadValue = Union[str, "Const", None, sql.Composable, Mapping[str, "PayloadValue"]]
Payload = Mapping[str, PayloadValue]

# The library function every generated body calls (listener/sql/realtime_append_event_v2.sql).
APPEND_EVENT = sql.Identifier("realtime_append_event_v2")


@dataclasses.dataclass(frozen=True)
class Const:
    """A constant in a payload: a string, number or boolean, quoted as a SQL literal."""

    value: str | int | float | bool


def changed(*fields: str) -> pgtrigger.Condition:
    """Publish an update only when one of ``fields`` changed (any field, given none)."""
    return pgtrigger.AnyChange(*fields)


class Publish(pgtrigger.Trigger):
    """A row trigger that appends one event to the log, after the write, in its transaction."""

    when = pgtrigger.After

    def __init__(
        self,
        *,
        name: str,
        operation: pgtrigger.Operation,
        event: str,
        topics: Sequence[_topics.TopicOf | _topics.TopicsVia],
        payload: Payload,
        condition: pgtrigger.Condition | None = None,
    ) -> None:
        if not event:
            raise ValueError("Publish %s: the event type is empty" % name)
        if not topics:
            raise ValueError("Publish %s: publishes to no topic" % name)
        ops = str(operation)
        if "DELETE" in ops and ops != "DELETE":
            raise ValueError("Publish %s: a delete reads OLD, others NEW; declare it apart" % name)
        if "TRUNCATE" in ops:
            raise ValueError("Publish %s: TRUNCATE has no rows to publish" % name)
        self.event = event
        self.topics = list(topics)
        self.payload = payload
        self.row = "OLD" if ops == "DELETE" else "NEW"
        super().__init__(name=name, operation=operation, condition=condition, level=pgtrigger.Row)

    def get_func(self, model: Any) -> str:
        return render(model, self.row, self.topics, self.event, self.payload)


def render(
    model: type[models.Model],
    row: str,
    topic_list: Sequence[_topics.TopicOf | _topics.TopicsVia],
    event: str,
    payload: Payload,
) -> str:
    """The trigger body: one call appending the event, then ``RETURN NULL`` (an AFTER trigger)."""
    builder = _Builder(model, sql.SQL(row))
    single = [t for t in topic_list if isinstance(t, _topics.TopicOf)]
    topic_array: sql.Composable = sql.SQL("ARRAY[{}]::text[]").format(
        sql.SQL(", ").join(t.topic.sql(builder.column(t.field)) for t in single)
    )
    for via in topic_list:
        if isinstance(via, _topics.TopicsVia):
            topic_array = sql.SQL("{} || {}").format(topic_array, builder.related_topics(via))
    body = sql.SQL("PERFORM {}({}, {}, {}); RETURN NULL;").format(
        APPEND_EVENT,
        topic_array,
        sql.Literal(event),
        builder.payload(payload),
    )
    return body.as_string(None)


class _Builder:
    """Turns field paths of one model into SQL reading the trigger's row."""

    def __init__(self, model: type[models.Model], row: sql.Composable) -> None:
        self.model = model
        self.row = row
        self._aliases = 0

    def column(self, path: str) -> sql.Composable:
        """A plain column of the row, by field name (a foreign key gives its id column)."""
        field = _field(self.model, path)
        return sql.SQL("{}.{}").format(self.row, sql.Identifier(_column(field)))

    def related_topics(self, via: _topics.TopicsVia) -> sql.Composable:
        """``ARRAY(SELECT <topic> FROM <related table> WHERE <its foreign key> = <this row>)``."""
        relation = self.model._meta.get_field(via.relation)
        if not isinstance(relation, models.ForeignObjectRel) or not relation.one_to_many:
            raise ValueError(
                "%s.%s is not a reverse foreign key: cannot name topics through it"
                % (self.model.__name__, via.relation)
            )
        related: type[models.Model] = relation.related_model
        foreign_key = relation.field
        self._aliases += 1
        alias = sql.Identifier("_publish_%d" % self._aliases)
        key = sql.SQL("{}.{}").format(alias, sql.Identifier(_column(_field(related, via.field))))
        return sql.SQL("ARRAY(SELECT {} FROM {} AS {} WHERE {}.{} = {}.{})").format(
            via.topic.sql(key),
            sql.Identifier(related._meta.db_table),
            alias,
            alias,
            sql.Identifier(_column(foreign_key)),
            self.row,
            sql.Identifier(_column(foreign_key.target_field)),
        )

    def payload(self, payload: Payload) -> sql.Composable:
        if not isinstance(payload, Mapping):
            raise TypeError("a payload is a dict, not %r" % (payload,))
        items: list[sql.Composable] = []
        for key, value in payload.items():
            if not isinstance(key, str):
                raise TypeError("payload key %r is not a string" % (key,))
            items.append(sql.SQL("{}, {}").format(sql.Literal(key), self.value(value)))
        return sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(items))

    def value(self, value: PayloadValue) -> sql.Composable:
        if value is None:
            return sql.NULL
        if isinstance(value, Const):
            return sql.Literal(value.value)
        if isinstance(value, sql.Composable):
            return value
        if isinstance(value, Mapping):
            return self.payload(value)
        if isinstance(value, str):
            return self.path(self.model, self.row, value.split("."))
        raise TypeError("payload value %r is not a field path, dict, Const or None" % (value,))

    def path(self, model: type[models.Model], row: sql.Composable, parts: list[str]) -> sql.Composable:
        """``parts[0]`` of ``row``; through a foreign key, one subquery per hop."""
        field = _field(model, parts[0])
        column = sql.SQL("{}.{}").format(row, sql.Identifier(_column(field)))
        if len(parts) == 1:
            return _as_published(field, column)
        if not (field.many_to_one or field.one_to_one) or field.related_model is None:
            where = "%s.%s" % (model.__name__, parts[0])
            raise ValueError("%s is not a foreign key: cannot follow %s" % (where, ".".join(parts)))
        assert isinstance(field, models.ForeignKey)
        related: type[models.Model] = field.related_model
        target = field.target_field
        if len(parts) == 2 and _field(related, parts[1]) == target:
            return _as_published(target, column)  # the related id is the foreign key itself
        self._aliases += 1
        alias = sql.Identifier("_publish_%d" % self._aliases)
        inner = self.path(related, alias, parts[1:])
        return sql.SQL("(SELECT {} FROM {} AS {} WHERE {}.{} = {})").format(
            inner,
            sql.Identifier(related._meta.db_table),
            alias,
            alias,
            sql.Identifier(_column(target)),
            column,
        )


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.column or field.many_to_many:
        raise ValueError("%s.%s is not a column of %s" % (model.__name__, name, model._meta.db_table))
    return field


def _column(field: models.Field[Any, Any]) -> str:
    if not field.column:
        raise ValueError("%s has no database column" % field)
    return field.column


def _as_published(field: models.Field[Any, Any], column: sql.Composable) -> sql.Composable:
    """Ids travel as strings (JavaScript numbers cannot hold every bigint)."""
    if field.primary_key or field.is_relation:
        return sql.SQL("{}::text").format(column)
    return column

"""Declared publishing: the generated trigger SQL quotes what it must, and runs as declared."""

from __future__ import annotations

import json
from typing import Any

import pgtrigger
import pytest
from django.apps import registry
from django.db import connection, models

import listener
from chat import models as chat_models
from chat import topics
from listener.capture import publishing

ODD_TYPE = 'it\'s "odd"; DROP TABLE listener_event; --'
ODD_KEY = "key with 'quote' and \"double\""
ODD_TOPIC = listener.Topic("odd")

# A model outside the project's registry, so the migration check never sees it.
_isolated = registry.Apps()


class OddRow(models.Model):
    """A table and columns whose names need quoting: case, spaces, quotes, a keyword."""

    objects: models.Manager[OddRow] = models.Manager()
    text = models.TextField(db_column="it's col")
    flag = models.BooleanField(db_column="Select")

    class Meta:
        app_label = "publishing_tests"
        apps = _isolated
        db_table = "Odd Table"


class DoubleQuoted(models.Model):
    """Django cannot create this table (it does not escape double quotes); we render it only."""

    text = models.TextField(db_column='we"ird col')

    class Meta:
        app_label = "publishing_tests"
        apps = _isolated
        db_table = 'odd "table"'


ODD_PAYLOAD: publishing.Payload = {
    ODD_KEY: "text",
    "nested": {"flag": "flag", "const": listener.Const("a'b"), "none": None},
    "id": "id",
}
ODD_TRIGGER = listener.Publish(
    name="emit_odd_changed",
    operation=pgtrigger.Update,
    condition=listener.changed("text"),
    event=ODD_TYPE,
    topics=[ODD_TOPIC.of("id")],
    payload=ODD_PAYLOAD,
)
ODD_INSERTED = listener.Publish(
    name="emit_odd_inserted",
    operation=pgtrigger.Insert,
    event=ODD_TYPE,
    topics=[ODD_TOPIC.of("id")],
    payload=ODD_PAYLOAD,
)


def test_identifiers_are_quoted_and_literals_escaped() -> None:
    body = publishing.render(OddRow, "NEW", ODD_TRIGGER.topics, ODD_TRIGGER.event, ODD_TRIGGER.payload)
    assert 'NEW."it\'s col"' in body
    assert 'NEW."Select"' in body
    quoted = publishing.render(DoubleQuoted, "OLD", [ODD_TOPIC.of("id")], "t", {"t": "text"})
    assert 'OLD."we""ird col"' in quoted
    assert "'it''s \"odd\"; DROP TABLE listener_event; --'" in body
    assert "'key with ''quote'' and \"double\"'" in body
    assert "'a''b'" in body
    assert body.startswith('PERFORM "realtime_append_event_v2"(ARRAY[\'odd_\' || NEW."id"::text]::text[]')


def test_a_related_field_is_read_through_the_related_models_table() -> None:
    body = publishing.render(
        chat_models.ChatMessage, "OLD", [topics.ROOM.of("room")], "t", {"who": "sender.username"}
    )
    assert (
        '(SELECT "_publish_1"."username" FROM "auth_user" AS "_publish_1"'
        ' WHERE "_publish_1"."id" = OLD."sender_id")'
    ) in body
    # The related id is the foreign key itself: no subquery.
    by_id = publishing.render(chat_models.ChatMessage, "NEW", [], "t", {"who": "sender.id"})
    assert "SELECT" not in by_id


@pytest.mark.parametrize(
    ("declaration", "error"),
    [
        ({"payload": {"x": "message.username"}}, "not a foreign key"),
        ({"payload": {"x": "nowhere"}}, "has no field"),
        ({"payload": {"x": 5}}, "not a field path"),
        ({"topics": []}, "no topic"),
        ({"operation": pgtrigger.Delete | pgtrigger.Update}, "declare it apart"),
    ],
)
def test_mistakes_in_a_declaration_fail_loudly(declaration: dict[str, Any], error: str) -> None:
    arguments = {
        "name": "emit_x",
        "operation": pgtrigger.Insert,
        "event": "x",
        "topics": [topics.ROOM.of("room")],
        "payload": {"x": "message"},
        **declaration,
    }
    with pytest.raises(Exception, match=error):
        listener.Publish(**arguments).get_func(chat_models.ChatMessage)


def test_topic_names_are_one_format_for_sql_and_python() -> None:
    assert topics.ROOM.name(5) == "room_5" and topics.ROOM.parse("5") == 5
    with pytest.raises(listener.InvalidTopicKey):
        topics.ROOM.parse("five")
    assert listener.SESSION_TOPIC.name("k") == "session_8ce4b16b22b58894aa86c421e8759df3"
    with pytest.raises(ValueError, match="lowercase"):
        listener.Topic("Room")


@pytest.mark.django_db(transaction=True)
def test_the_generated_trigger_publishes_exactly_the_declared_event() -> None:
    with connection.schema_editor() as editor:
        editor.create_model(OddRow)
    try:
        ODD_TRIGGER.install(OddRow)  # type: ignore[arg-type]
        ODD_INSERTED.install(OddRow)  # type: ignore[arg-type]
        row = OddRow.objects.create(text="it's", flag=True)
        OddRow.objects.filter(pk=row.pk).update(flag=False)  # text unchanged: nothing published
        OddRow.objects.filter(pk=row.pk).update(text='say "hi"')
        with connection.cursor() as cur:
            cur.execute(
                "SELECT topics, type, payload::text FROM listener_event WHERE type = %s ORDER BY id",
                [ODD_TYPE],
            )
            rows = cur.fetchall()
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(OddRow)
    assert [(r[0], r[1]) for r in rows] == [(["odd_%d" % row.pk], ODD_TYPE)] * 2
    assert [json.loads(r[2]) for r in rows] == [
        {ODD_KEY: "it's", "nested": {"flag": True, "const": "a'b", "none": None}, "id": str(row.pk)},
        {ODD_KEY: 'say "hi"', "nested": {"flag": False, "const": "a'b", "none": None}, "id": str(row.pk)},
    ]


def test_every_public_name_resolves() -> None:
    assert {name: getattr(listener, name) for name in listener.__all__}
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        listener.Nope  # noqa: B018

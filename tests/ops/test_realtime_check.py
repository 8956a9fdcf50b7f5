"""`manage.py realtime_check` sees that writes are not captured, not just that the catalog looks right."""

from __future__ import annotations

import collections.abc
import contextlib
import io

import pytest
from django.contrib.auth.models import User
from django.core import management
from django.db import connection

from chat import models
from listener import migration_sql

pytestmark = pytest.mark.django_db(transaction=True)


def _check() -> tuple[int, str]:
    # A fresh session, as the command gets: database and role settings apply at connect.
    connection.close()
    out = io.StringIO()
    try:
        management.call_command("realtime_check", "--quiet", stdout=out)
    except management.CommandError as exc:
        return 1, out.getvalue() + str(exc)
    return 0, out.getvalue()


@pytest.fixture
def message(people: dict[str, User], room: models.ChatRoom) -> models.ChatMessage:
    """A row for the insert probe to copy."""
    return models.ChatMessage.objects.create(room=room, sender=people["owner"], message="hi")


def _execute(statement: str) -> None:
    with connection.cursor() as cur:
        cur.execute(statement)


def _trigger(prefix: str) -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE %(p)s", {"p": prefix + "%"})
        (name,) = cur.fetchone()
    return str(name)


@contextlib.contextmanager
def _restoring(undo: str) -> collections.abc.Iterator[None]:
    try:
        yield
    finally:
        connection.close()
        _execute(undo)
        connection.close()
    assert _check()[0] == 0


def test_a_clean_database_passes_and_the_probe_commits_nothing(message: models.ChatMessage) -> None:
    assert _check() == (0, "real-time plumbing OK\n")
    out = io.StringIO()
    management.call_command("realtime_check", stdout=out)
    assert "an insert into chat_chatmessage publishes an event" in out.getvalue()
    assert "realtime_append_event_v2 appends to the event log" in out.getvalue()
    assert models.ChatMessage.objects.count() == 1
    assert not models.ChatMessage.objects.exclude(pk=message.pk).exists()


def test_replica_role_on_the_database_fails(message: models.ChatMessage) -> None:
    name = connection.settings_dict["NAME"]
    with _restoring('ALTER DATABASE "%s" RESET session_replication_role' % name):
        _execute('ALTER DATABASE "%s" SET session_replication_role = replica' % name)
        code, out = _check()
        assert code == 1
        assert "session_replication_role is replica (set by: database)" in out
        assert "an insert into chat_chatmessage published nothing" in out


def test_a_no_op_append_function_fails(message: models.ChatMessage) -> None:
    shipped = migration_sql.read("realtime_append_event_v2.sql")
    with _restoring(shipped):
        _execute(
            "CREATE OR REPLACE FUNCTION realtime_append_event_v2(topics text[], event_type text,"
            " payload jsonb) RETURNS void LANGUAGE plpgsql AS $$ BEGIN END; $$"
        )
        code, out = _check()
        assert code == 1
        assert "realtime_append_event_v2 appended nothing to the event log" in out
        # The triggers call it, so the insert probe sees nothing either.
        assert "an insert into chat_chatmessage published nothing" in out


def test_a_no_op_trigger_function_fails(message: models.ChatMessage) -> None:
    name = _trigger("pgtrigger_emit_message_created_")
    with connection.cursor() as cur:
        cur.execute(
            "SELECT pg_get_functiondef(p.oid), p.oid::regprocedure::text FROM pg_trigger t"
            " JOIN pg_proc p ON p.oid = t.tgfoid WHERE t.tgname = %(name)s",
            {"name": name},
        )
        definition, signature = cur.fetchone()
    with _restoring(definition):
        _execute(
            "CREATE OR REPLACE FUNCTION %s RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END; $$"
            % signature
        )
        code, out = _check()
        assert code == 1
        assert "an insert into chat_chatmessage published nothing" in out


def test_enable_always_counts_as_enabled_and_enable_replica_does_not(
    message: models.ChatMessage,
) -> None:
    name = _trigger("pgtrigger_emit_message_created_")
    with _restoring('ALTER TABLE chat_chatmessage ENABLE TRIGGER "%s"' % name):
        _execute('ALTER TABLE chat_chatmessage ENABLE ALWAYS TRIGGER "%s"' % name)
        assert _check() == (0, "real-time plumbing OK\n")
        out = io.StringIO()
        management.call_command("realtime_check", stdout=out)
        assert "%s on chat_chatmessage installed and enabled (ALWAYS" % name in out.getvalue()

        _execute('ALTER TABLE chat_chatmessage ENABLE REPLICA TRIGGER "%s"' % name)
        code, out_text = _check()
        assert code == 1
        assert "%s on chat_chatmessage is ENABLE REPLICA" % name in out_text
        assert "an insert into chat_chatmessage published nothing" in out_text


def test_a_function_missing_under_a_trigger_fails(message: models.ChatMessage) -> None:
    with _restoring("ALTER FUNCTION realtime_append_event_gone RENAME TO realtime_append_event_v2"):
        _execute("ALTER FUNCTION realtime_append_event_v2 RENAME TO realtime_append_event_gone")
        code, out = _check()
        assert code == 1
        assert "an insert into chat_chatmessage fails:" in out
        assert "realtime_append_event_v2" in out

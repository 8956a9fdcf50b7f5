"""Operations: /health and /metrics, `manage.py realtime_check`, `manage.py listen`."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import secrets
import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from django.core import management
from django.db import connection
from django.test import AsyncClient, Client

from chat import models
from listener.layer import process
from listener.log import cursors
from tests import servers
from tests.conftest import connect, frames, sync

pytestmark = pytest.mark.django_db(transaction=True)

REMOTE = "203.0.113.7"


async def _listener_up() -> None:
    running = process.ensure_started()
    await asyncio.wait_for(running.ready.wait(), 10)


async def test_health_reports_listener_sockets_and_lag(people, room):
    await _listener_up()
    communicator, connected, _ = await connect("/ws/room/%d" % room.id, people["member"])
    assert connected
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="hi")
    await frames(communicator, 1)
    response = await AsyncClient().get("/health")
    assert response.status_code == 200
    body = json.loads(response.content)
    assert body["listener"]["connected"] is True
    assert body["listener"]["events_read"] >= 1
    assert body["listener"]["last_wakeup"] is not None
    assert 0 <= body["listener"]["last_lag_seconds"] < 10
    assert body["sockets"]["by_topic_kind"] == {"room": 1}
    assert body["backlog_high_water"] >= 1
    await communicator.disconnect()


async def test_health_is_503_while_the_listener_is_down(transactional_db, settings):
    settings.REALTIME_LISTENER_DATABASE_URL = "postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=1"
    response = await AsyncClient().get("/health")
    assert response.status_code == 503
    assert json.loads(response.content)["listener"]["connected"] is False


async def test_metrics_count_events_frames_and_closes(people, room):
    await _listener_up()
    communicator, connected, _ = await connect("/ws/room/%d" % room.id, people["member"])
    assert connected
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="hi")
    await frames(communicator, 1)
    await communicator.disconnect()
    response = await AsyncClient().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for name in (
        "realtime_events_read_total",
        "realtime_frames_sent_total",
        'realtime_sockets_opened_total{topic_kind="room"}',
        'realtime_sockets_closed_total{code="1000",topic_kind="room"}',
        "realtime_slow_consumer_closes_total",
        "realtime_listener_reconnects_total",
        "realtime_listener_connected 1.0",
        'realtime_sockets_open{topic_kind="room"} 0.0',
        "realtime_dispatch_lag_seconds_bucket",
    ):
        assert name in text, name


@pytest.mark.parametrize("path", ["/health", "/metrics"])
def test_operator_endpoints_refuse_remote_strangers(people, path):
    assert Client(REMOTE_ADDR=REMOTE).get(path).status_code == 403
    member = Client(REMOTE_ADDR=REMOTE)
    member.force_login(people["member"])
    assert member.get(path).status_code == 403
    operator = Client(REMOTE_ADDR=REMOTE)
    operator.force_login(User.objects.create_user("stella", password="pw", is_staff=True))
    # Each sync request runs in a loop of its own, so the listener may not be up yet: 503.
    assert operator.get(path).status_code in {200, 503}


def _check(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        management.call_command("realtime_check", *args, stdout=out)
    except management.CommandError as exc:
        return 1, out.getvalue() + str(exc)
    return 0, out.getvalue()


def test_realtime_check_passes_on_a_migrated_database(transactional_db):
    code, out = _check()
    assert code == 0, out
    assert "emit_message_created" in out and "session_ended" in out
    assert "LISTEN/NOTIFY round trip" in out
    assert "notification queue usage" in out and "event log:" in out


def test_realtime_check_fails_when_a_trigger_is_disabled(transactional_db):
    with connection.cursor() as cur:
        cur.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'pgtrigger_emit_message_created_%'")
        (name,) = cur.fetchone()
        cur.execute('ALTER TABLE chat_chatmessage DISABLE TRIGGER "%s"' % name)
    try:
        code, out = _check("--quiet")
        assert code == 1
        assert "%s on chat_chatmessage is DISABLED" % name in out
    finally:
        with connection.cursor() as cur:
            cur.execute('ALTER TABLE chat_chatmessage ENABLE TRIGGER "%s"' % name)
    assert _check()[0] == 0


def test_realtime_check_fails_when_a_function_is_missing(transactional_db):
    with connection.cursor() as cur:
        cur.execute(
            "ALTER FUNCTION realtime_join_request_payload_v1 RENAME TO realtime_join_request_payload_gone"
        )
    try:
        code, out = _check("--quiet")
        assert code == 1 and "realtime_join_request_payload_v1 is missing" in out
    finally:
        with connection.cursor() as cur:
            cur.execute(
                "ALTER FUNCTION realtime_join_request_payload_gone RENAME TO realtime_join_request_payload_v1"
            )


def test_realtime_check_fails_when_listen_cannot_connect(transactional_db, settings):
    settings.REALTIME_LISTENER_DATABASE_URL = "postgresql://nobody@127.0.0.1:1/nothing"
    code, out = _check("--quiet", "--timeout", "1")
    assert code == 1 and "cannot connect or LISTEN" in out


def test_realtime_check_warns_about_pgbouncer_port(transactional_db, settings):
    settings.REALTIME_LISTENER_DATABASE_URL = "postgresql://app@127.0.0.1:6432/app?connect_timeout=1"
    code, out = _check("--quiet", "--timeout", "1")
    assert code == 1 and "PgBouncer" in out and "REALTIME_LISTENER_DATABASE_URL" in out


def _listen(*args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "manage.py", "listen", "--timeout", "30", *args],
        env=dict(os.environ, DATABASE_URL=servers.database_url()),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("listening"):
            return process
    raise AssertionError("listen exited: %s" % process.wait())


def test_listen_prints_one_line_per_matching_event(people, room):
    process = _listen("--topic", "room_*", "--type", "chat_message_*", "--max-events", "2")
    models.ChatRoomJoinRequest.objects.create(user=people["outsider"], room=room)
    first = models.ChatMessage.objects.create(room=room, sender=people["owner"], message="one")
    models.ChatMessage.objects.filter(pk=first.pk).update(message="uno")
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    lines = out.splitlines()
    assert len(lines) == 2, out
    assert (
        "live room_%d chat_message_created id=%d room=%d sender=%d"
        % (
            room.id,
            first.id,
            room.id,
            people["owner"].id,
        )
        in lines[0]
    )
    assert "chat_message_updated" in lines[1] and "lag=" in lines[1]


def test_listen_since_a_cursor_replays_the_log_then_follows(people, room):
    with connection.cursor() as cur:
        cur.execute("SELECT pg_current_snapshot()::text")
        cursor = cursors.Cursor(cursors.Snapshot.parse(cur.fetchone()[0])).encode()
    models.ChatMessage.objects.create(room=room, sender=people["owner"], message="before")
    process = _listen("--since", cursor, "--topic", "room_%d" % room.id, "--max-events", "2")
    models.ChatMessage.objects.create(room=room, sender=people["owner"], message="after")
    out, _ = process.communicate(timeout=30)
    lines = out.splitlines()
    assert [line.split()[1:3] for line in lines] == [
        ["replay", "room_%d" % room.id],
        ["live", "room_%d" % room.id],
    ]


def test_listen_since_stops_after_the_replay_when_it_has_enough(people, room):
    with connection.cursor() as cur:
        cur.execute("SELECT pg_current_snapshot()::text")
        cursor = cursors.Cursor(cursors.Snapshot.parse(cur.fetchone()[0])).encode()
    for text in ("one", "two", "three"):
        models.ChatMessage.objects.create(room=room, sender=people["owner"], message=text)
    out = io.StringIO()
    management.call_command(
        "listen", "--since", cursor, "--type", "chat_message_created", "--max-events", "2", stdout=out
    )
    assert [line.split()[1:4] for line in out.getvalue().splitlines()] == [
        ["replay", "room_%d" % room.id, "chat_message_created"]
    ] * 2


def test_listen_refuses_a_bad_cursor(transactional_db):
    with pytest.raises(management.CommandError, match="--since"):
        management.call_command("listen", "--since", "garbage", "--timeout", "1")


def _production_check(**env: str) -> subprocess.CompletedProcess[str]:
    # Only what the test passes: a DATABASE_URL or DJANGO_* of the outer run must not leak in.
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_") and k != "DATABASE_URL"}
    environ.update(DJANGO_SETTINGS_MODULE="project.settings_production", **env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_pass_the_deploy_checks(transactional_db):
    done = _production_check(
        DATABASE_URL=servers.database_url(),
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="chat.example.com",
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("missing", ["DATABASE_URL", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS"])
def test_production_settings_fail_loudly_without_their_environment(transactional_db, missing):
    env = {
        "DATABASE_URL": servers.database_url(),
        "DJANGO_SECRET_KEY": "k" * 50,
        "DJANGO_ALLOWED_HOSTS": "chat.example.com",
    }
    del env[missing]
    done = _production_check(**env)
    assert done.returncode != 0
    assert "ImproperlyConfigured: %s must be set" % missing in done.stderr


async def test_one_log_line_per_socket_open_and_close_none_per_event(people, room, caplog):
    caplog.set_level(logging.INFO, logger="listener")
    communicator, connected, _ = await connect("/ws/room/%d" % room.id, people["member"])
    assert connected
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="hi")
    await frames(communicator, 1)
    await communicator.disconnect()
    refused, _, _ = await connect("/ws/room/%d" % room.id, people["outsider"])
    await refused.receive_output(timeout=10)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("listener.sockets.consumer")]
    member, outsider = people["member"].id, people["outsider"].id
    assert lines == [
        "socket open user=%d topic=room_%d resume=False" % (member, room.id),
        "socket closed user=%d topic=room_%d code=1000" % (member, room.id),
        "socket refused user=%d topic=room_%d code=4403" % (outsider, room.id),
    ]
    assert any(r.getMessage().startswith("listener connected") for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

"""Operations: /health and /metrics, `manage.py realtime_check`, `manage.py listen`."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.contrib.auth.models import User
from django.test import AsyncClient, Client

from chat import models
from listener import service
from tests.conftest import connect, frames, sync

pytestmark = pytest.mark.django_db(transaction=True)

REMOTE = "203.0.113.7"


async def _listener_up() -> None:
    running = service.ensure_started()
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

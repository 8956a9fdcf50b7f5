"""WebSocket routes: one topic per URL."""

from __future__ import annotations

from django.urls import re_path

from chat import consumers

websocket_urlpatterns = [
    re_path(r"^ws/user/(?P<user_id>\d{1,18})$", consumers.UserConsumer.as_asgi()),
    re_path(r"^ws/room/(?P<room_id>\d{1,18})$", consumers.RoomConsumer.as_asgi()),
    re_path(r"", consumers.UnknownTopicConsumer.as_asgi()),
]

"""WebSocket routes: one topic per URL."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, re_path

from chat import consumers


def _socket(pattern: str, app: Any) -> Any:
    """A route to an ASGI app: Channels' URLRouter reads Django's patterns, whose stubs only
    know views, so the route is typed as the router's (``Any``) rather than a view's."""
    route: URLPattern = re_path(pattern, app)
    return route


websocket_urlpatterns: list[Any] = [
    _socket(r"^ws/user/(?P<user_id>\d{1,18})$", consumers.UserConsumer.as_asgi()),
    _socket(r"^ws/room/(?P<room_id>\d{1,18})$", consumers.RoomConsumer.as_asgi()),
    _socket(r"", consumers.UnknownTopicConsumer.as_asgi()),
]

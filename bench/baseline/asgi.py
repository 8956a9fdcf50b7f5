"""ASGI entry point of the baseline: Django for HTTP, the article's consumer for WebSockets."""

from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.baseline.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import re_path  # noqa: E402

from bench.baseline import consumers  # noqa: E402

# Typed as the router reads it (Any), as in chat/routing.py: Django's stubs know only view routes.
consumer: Any = consumers.ChatRoomConsumer.as_asgi()
routes: list[Any] = [re_path(r"^ws/room/(?P<room_id>\d+)$", consumer)]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(routes))),
    }
)

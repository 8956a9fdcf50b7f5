"""Sockets only: the notes consumer behind the session auth, the listener alongside."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.sockets.uuid_users.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

import listener  # noqa: E402
from tests.sockets.uuid_users.consumers import NotesConsumer  # noqa: E402

application = listener.with_listener(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": listener.SocketAuth(
                URLRouter([path("ws/notes/<str:owner_id>", NotesConsumer.as_asgi())])
            ),
        }
    )
)

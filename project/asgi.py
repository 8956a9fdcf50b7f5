"""ASGI entry point: Django for HTTP, the chat consumers for WebSockets, the listener alongside.

Runs unchanged under daphne (the default) and uvicorn.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# Django must be set up before the consumers (and their models) are imported.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

import listener  # noqa: E402
from chat import routing  # noqa: E402

application = listener.with_listener(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            # Origin is checked by the consumers (listener/sockets/origin.py) after accepting, so a
            # cross-site page gets a readable 4403 rather than an opaque HTTP 403.
            # lazy_user: a real-time socket reads its user with its access, in one database trip.
            "websocket": listener.SocketAuth(URLRouter(routing.websocket_urlpatterns), lazy_user=True),
        }
    )
)

"""The project's application with the library's default handshake, for ``bench.handshake``.

``listener.SocketAuth`` without ``lazy_user`` (its default; the project passes ``lazy_user=True``)
reads a socket's user on a handshake thread before its access check queues: what an adopter who
keeps the default gets in a reconnect storm. ``python -m bench.handshake --designs ours,eager``.
"""

from __future__ import annotations

from channels.routing import ProtocolTypeRouter, URLRouter

import listener
from chat import routing
from project.asgi import django_asgi_app

application = listener.with_listener(
    ProtocolTypeRouter(
        {"http": django_asgi_app, "websocket": listener.SocketAuth(URLRouter(routing.websocket_urlpatterns))}
    )
)

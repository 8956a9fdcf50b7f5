"""The project's application with the library's default handshake, for ``bench.handshake``.

``listener.SocketAuth`` without ``lazy_user`` (its default; the project passes ``lazy_user=True``)
reads a socket's user on a handshake thread before its access check queues: what an adopter who
keeps the default gets in a reconnect storm. ``python -m bench.handshake --designs ours,eager``.
"""

from __future__ import annotations

from project import asgi

# project.asgi has set Django up: the consumers and their models can be imported now.
django_asgi_app = asgi.django_asgi_app

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

import listener  # noqa: E402
from chat import routing  # noqa: E402

application = listener.with_listener(
    ProtocolTypeRouter(
        {"http": django_asgi_app, "websocket": listener.SocketAuth(URLRouter(routing.websocket_urlpatterns))}
    )
)

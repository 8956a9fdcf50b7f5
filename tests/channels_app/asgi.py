"""The tutorial app's ASGI application: Django for HTTP, the chat socket, the worker channel.

No ``listener.asgi.with_listener`` here: the layer starts what it needs by itself.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.channels_app.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ChannelNameRouter, ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from tests.channels_app import consumers  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([path("ws/chat/<str:room_name>/", consumers.ChatConsumer.as_asgi())]),
        "channel": ChannelNameRouter({"thumbnails": consumers.ThumbnailWorker.as_asgi()}),
    }
)

"""ASGI wrapper that runs the listener beside the application, under daphne or uvicorn."""

from __future__ import annotations

from typing import Any

from listener import service

Scope = dict[str, Any]
Receive = Any
Send = Any
App = Any


def with_listener(app: App) -> App:
    """Start the process's listener with the server (lifespan) or with its first connection."""

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        service.ensure_started()
        await app(scope, receive, send)

    return application


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            service.ensure_started()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await service.stop()
            await send({"type": "lifespan.shutdown.complete"})
            return

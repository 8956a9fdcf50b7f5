"""ASGI wrapper that runs the listener beside the application, under daphne or uvicorn."""

from __future__ import annotations

import logging
from typing import Any

from django import db

from listener.layer import process
from listener.sockets import outbox, presence

logger = logging.getLogger(__name__)

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
        process.ensure_started()
        presence.start()
        if scope["type"] == "websocket":
            # Frames go straight to the server's send: the middlewares' send wrappers (sessions,
            # the 4503 guard below) only matter for the handshake, not per frame.
            scope = {**scope, outbox.RAW_SEND: send}
            await _unavailable_on_database_error(app, scope, receive, send)
            return
        await app(scope, receive, send)

    return application


async def _unavailable_on_database_error(app: App, scope: Scope, receive: Receive, send: Send) -> None:
    """Postgres unreachable while a socket opens (session lookup, access check): 4503, not HTTP 500.

    The page then reconnects from its cursor, as after any resumable close.
    """
    accepted = False

    async def tracking_send(message: dict[str, Any]) -> None:
        nonlocal accepted
        if not accepted:
            accepted = message["type"] in {"websocket.accept", "websocket.close"}
        await send(message)

    try:
        await app(scope, receive, tracking_send)
    except db.DatabaseError:
        if accepted:
            raise
        logger.warning("socket refused path=%s code=4503: database unavailable", scope.get("path"))
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 4503, "reason": "database unavailable, retry"})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            process.ensure_started()
            presence.start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def stop() -> None:
    """Stop this process's real-time tasks, each bounded in time: presence first (its rows are
    reaped after REALTIME_PRESENCE_TIMEOUT anyway if this fails), then the waker and listener."""
    await process.bounded("presence", presence.stop())
    await process.stop()

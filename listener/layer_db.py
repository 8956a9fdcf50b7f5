"""The channel layer's own Postgres connection: sends, claims and group changes.

One autocommit connection per event loop, opened on first use. Channels code hops between
loops (``async_to_sync`` in a shell runs each call on a loop of its own), and a connection
belongs to the loop that opened it, so a new loop gets a new connection and the old one is
closed at the socket level (its loop may be gone).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
from psycopg import conninfo

from listener import connection, exceptions, queries

logger = logging.getLogger(__name__)


class LayerConnection:
    """Runs the layer's named queries on a connection of the running loop."""

    def __init__(self) -> None:
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Lock | None = None

    async def fetch(self, name: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """The rows of named query ``name``; `ChannelLayerUnavailable` when Postgres is not there."""
        try:
            conn = await self._connection()
            cur = await conn.execute(queries.get(name), params)
            return await cur.fetchall() if cur.description is not None else []
        except psycopg.OperationalError as exc:
            self.close()
            raise exceptions.ChannelLayerUnavailable(
                "channel layer query %r failed: %s" % (name, str(exc).strip() or type(exc).__name__)
            ) from exc

    def close(self) -> None:
        """Drop the connection without awaiting (its loop may be closed already)."""
        if self._conn is not None and not self._conn.closed:
            self._conn.pgconn.finish()
        self._conn = None
        self._loop = None
        self._opening = None

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self.close()
            self._loop = loop
            self._opening = asyncio.Lock()
        assert self._opening is not None
        async with self._opening:
            if self._conn is None or self._conn.closed:
                dsn = conninfo.make_conninfo(
                    connection.django_conninfo(), application_name="realtime-channel-layer"
                )
                self._conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
            return self._conn

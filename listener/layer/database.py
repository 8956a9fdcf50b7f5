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
        # One per event loop: a thread of the server may run its own loop (async_to_sync) while
        # the server's loop uses its connection.
        self._conns: dict[asyncio.AbstractEventLoop, psycopg.AsyncConnection[Any]] = {}
        self._opening: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    async def fetch(self, name: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """The rows of named query ``name``; `ChannelLayerUnavailable` when Postgres is not there."""
        loop = asyncio.get_running_loop()
        # A connection that died while idle (server restart, idle timeout, terminated) fails on
        # its next query before running it: that query is tried once more on a new connection.
        retry = loop in self._conns
        while True:
            try:
                conn = await self._connection(loop)
                cur = await conn.execute(queries.get(name), params)
                return await cur.fetchall() if cur.description is not None else []
            except psycopg.OperationalError as exc:
                self._drop(loop)
                if retry:
                    logger.warning("channel layer connection lost (%s); reconnecting", str(exc).strip())
                    retry = False
                    continue
                raise exceptions.ChannelLayerUnavailable(
                    "channel layer query %r failed: %s" % (name, str(exc).strip() or type(exc).__name__)
                ) from exc

    def close(self) -> None:
        """Drop every connection without awaiting (their loops may be closed already)."""
        for loop in list(self._conns):
            self._drop(loop)
        self._opening.clear()

    def _drop(self, loop: asyncio.AbstractEventLoop) -> None:
        conn = self._conns.pop(loop, None)
        if conn is not None and not conn.closed:
            conn.pgconn.finish()

    async def _connection(self, loop: asyncio.AbstractEventLoop) -> psycopg.AsyncConnection[Any]:
        conn = self._conns.get(loop)
        if conn is not None and not conn.closed:
            return conn
        for other in [other for other in self._conns if other.is_closed()]:
            self._drop(other)
        opening = self._opening.setdefault(loop, asyncio.Lock())
        async with opening:
            conn = self._conns.get(loop)
            if conn is None or conn.closed:
                dsn = conninfo.make_conninfo(
                    connection.django_conninfo(), application_name="realtime-channel-layer"
                )
                conn = self._conns[loop] = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
            return conn

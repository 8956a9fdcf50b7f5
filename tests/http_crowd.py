"""Many logged-in page loads at once against a real server, and the backends they cost Postgres.

Each load is its own TCP connection with a raw HTTP/1.1 GET (``Connection: close``), all started
together, so the server sees them as concurrently as a crowd of browsers would.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from typing import Any

import psycopg

# What a load that got no HTTP answer counts as: the server closed or never answered.
NO_ANSWER = 0


async def load(port: int, path: str, cookie: str, timeout: float) -> int:
    """One GET of ``path`` with a session cookie: the HTTP status, or NO_ANSWER."""
    writer: asyncio.StreamWriter | None = None
    try:
        reader, opened = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        writer = opened
        request = "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nCookie: %s\r\nConnection: close\r\n\r\n"
        opened.write((request % (path, port, cookie)).encode())
        await opened.drain()
        status = await asyncio.wait_for(reader.readline(), timeout)
        await asyncio.wait_for(reader.read(), timeout)  # the whole page, as a browser reads it
        parts = status.split()
        return int(parts[1]) if len(parts) > 1 else NO_ANSWER
    except (OSError, TimeoutError, ValueError):
        return NO_ANSWER
    finally:
        if writer is not None:
            writer.close()


async def crowd(port: int, path: str, cookies: list[str], count: int, timeout: float = 60) -> list[int]:
    """``count`` concurrent loads, cookies taken in turn; their statuses in order."""
    return list(
        await asyncio.gather(*(load(port, path, cookies[n % len(cookies)], timeout) for n in range(count)))
    )


def counts(statuses: list[int]) -> dict[int, int]:
    return dict(sorted(collections.Counter(statuses).items()))


class BackendSampler:
    """Counts the server's client backends every ``every`` seconds on a thread; keeps the peak."""

    def __init__(self, conn: psycopg.Connection[Any], every: float = 0.05) -> None:
        self.conn = conn
        self.every = every
        self.peak = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="backend-sampler", daemon=True)

    def _count(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchone()
        assert row is not None
        return int(row[0])

    def now(self) -> int:
        """One count now (not while the sampling thread runs: they share the connection)."""
        return self._count()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self._count())
            except psycopg.Error as exc:
                self.errors.append(str(exc))
                return
            self._stop.wait(self.every)

    def __enter__(self) -> BackendSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

"""Pages of the live-region benches without a browser: sockets that speak one region's protocol.

A page follows its user's topic in one of three modes, each as its client does:

- ``json``: ``/ws/user/<id>``, today's JSON frames (``realtime.js``);
- ``streams``: ``?live=home``, the chat's region: each frame carries the rendered element;
- ``refresh``: ``?live=home_refresh`` (``bench/live.py``): each frame says "refresh", and the page
  fetches its own URL once the burst is over (``live.js`` waits 150 ms for more), so its region
  shows the change when that GET returns.

Each page notes, per renamed title ``bench-<n>``, when it first showed it: the frame's arrival
(json, streams) or the refreshed page's (refresh). Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

TITLE = re.compile(r"bench-(\d+)")
RECEIVE_TIMEOUT = 60.0
# live.js's REFRESH_DEBOUNCE_MS.
REFRESH_DEBOUNCE = 0.15
REGIONS = {"json": None, "streams": "home", "refresh": "home_refresh"}


async def open_socket(port: int, user_id: int, cookie: str, mode: str) -> ClientConnection:
    region = REGIONS[mode]
    path = "/ws/user/%d%s" % (user_id, "" if region is None else "?live=" + region)
    return await connect(
        "ws://127.0.0.1:%d%s" % (port, path),
        origin=Origin("http://127.0.0.1:%d" % port),
        additional_headers={"Cookie": cookie},
        proxy=None,
        max_size=None,
    )


async def fetch(port: int, path: str, cookie: str, timeout: float = RECEIVE_TIMEOUT) -> str:
    """One GET of ``path`` with a session cookie, as the refresh fetch does; the page's text."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        request = "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nCookie: %s\r\nAccept: text/html\r\n"
        writer.write((request % (path, port, cookie) + "Connection: close\r\n\r\n").encode())
        await writer.drain()
        return (await asyncio.wait_for(reader.read(), timeout)).decode()
    finally:
        writer.close()


class Page:
    """One page's socket and what it has shown."""

    def __init__(self, port: int, user_id: int, cookie: str, mode: str) -> None:
        self.port = port
        self.user_id = user_id
        self.cookie = cookie
        self.mode = mode
        self.socket: ClientConnection | None = None
        # Title number -> when this page first showed it.
        self.shown: dict[int, float] = {}
        self.fetches = 0
        self.failed_fetches = 0
        self.frames = 0
        self._refresh: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.socket = await open_socket(self.port, self.user_id, self.cookie, self.mode)

    async def follow(self) -> None:
        """Read frames until cancelled (or the socket closes); a bench stops it with ``wait_shown``."""
        assert self.socket is not None
        try:
            async for text in self.socket:
                now = time.perf_counter()
                text = text if isinstance(text, str) else text.decode()
                self.frames += 1
                if self.mode != "refresh":
                    self._show(text, now)
                elif 'action="refresh"' in text:
                    if self._refresh is not None:
                        self._refresh.cancel()
                    self._refresh = asyncio.create_task(self._refetch())
        finally:
            if self._refresh is not None:
                self._refresh.cancel()

    async def _refetch(self) -> None:
        await asyncio.sleep(REFRESH_DEBOUNCE)
        # Past the debounce, the fetch is not cancelled by a later frame (live.js's neither).
        self._refresh = None
        self.fetches += 1
        try:
            text = await fetch(self.port, "/", self.cookie)
        except (OSError, TimeoutError):
            # Counted and reported: a server that cannot serve the crowd's refetches in time.
            self.failed_fetches += 1
            return
        self._show(text, time.perf_counter())

    def _show(self, text: str, now: float) -> None:
        match = TITLE.search(text)
        if match:
            self.shown.setdefault(int(match[1]), now)

    async def close(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
        if self.socket is not None:
            await self.socket.close()


async def open_pages(port: int, chosen: list[Any], mode: str) -> list[Page]:
    """Open the pages one after another, as a crowd arriving does (not all in one instant)."""
    pages = [Page(port, user_id, cookie, mode) for user_id, cookie in chosen]
    for page in pages:
        await page.open()
    return pages


async def wait_shown(pages: list[Page], n: int, timeout: float) -> None:
    """Until every page shows title ``n`` or later, or ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(max(page.shown, default=-1) >= n for page in pages):
            return
        await asyncio.sleep(0.01)


def quiet(pid: int, timeout: float = 180) -> None:
    """Until the server process uses under a tenth of a core for a second (bounded): a mode's
    leftover work (a refresh crowd's page renders) must not be billed to the next mode."""
    process = psutil.Process(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.cpu_percent(interval=1.0) < 10:
            return


def latencies(pages: list[Page], committed: dict[int, float]) -> list[float]:
    """Commit to shown, in ms, for every page and title it showed (a refresh may skip one)."""
    return sorted(
        (when - committed[n]) * 1000 for page in pages for n, when in page.shown.items() if n in committed
    )

"""A page as a browser runs it: a real WebSocket client that resumes from its last cursor."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

# Close codes after which a page reconnects with its cursor.
RESUMABLE = {1001, 1006, 1011, 1012, 4008, 4500, 4503}


class Page:
    """One page's subscription; `frames` holds every frame it handled, in order."""

    def __init__(self, base_url: str, path: str, cookie: bytes, cursor: str | None = None) -> None:
        self.base_url = base_url
        self.path = path
        self.cookie = cookie.decode()
        self.cursor = cursor
        self.frames: list[dict[str, Any]] = []
        self.connects = 0
        self.socket: ClientConnection | None = None

    async def open(self) -> None:
        url = self.base_url + self.path
        if self.cursor:
            url += "?cursor=" + self.cursor
        self.socket = await connect(
            url,
            origin=self.base_url.replace("ws", "http", 1),  # same site, same port
            additional_headers={"Cookie": self.cookie},
            proxy=None,
            max_size=None,
        )
        self.connects += 1

    async def receive(self, timeout: float = 10) -> dict[str, Any]:
        """The next frame, except presence frames: these pages follow the data, not who is online
        (their cursors still count, as a real page's would)."""
        # The socket of this call: a concurrent `drop` may clear `self.socket` between frames,
        # and then this one's next `recv` raises ConnectionClosed, as a dropped page's would.
        socket = self.socket
        assert socket is not None
        while True:
            frame = json.loads(await asyncio.wait_for(socket.recv(), timeout))
            if frame.get("cursor"):
                self.cursor = frame["cursor"]
            if frame["type"] != "did_alter_presence":
                self.frames.append(frame)
                return frame

    async def receive_many(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        return [await self.receive(timeout) for _ in range(count)]

    async def drop(self) -> None:
        """Lose the connection, as a network blip or a closed laptop lid would."""
        if self.socket is not None:
            await self.socket.close()
            self.socket = None

    async def follow(self, until: asyncio.Event, pause: float = 0.0) -> None:
        """Receive until ``until`` is set, reconnecting from the cursor on resumable closes."""
        while not until.is_set():
            if self.socket is None:
                try:
                    await self.open()
                except (OSError, websockets.exceptions.InvalidStatus, TimeoutError):
                    await asyncio.sleep(0.2)
                    continue
            try:
                await self.receive(timeout=0.5)
            except TimeoutError:
                continue
            except websockets.exceptions.ConnectionClosed as exc:
                self.socket = None
                code = exc.rcvd.code if exc.rcvd else 1006
                assert code in RESUMABLE or code == 1000, "closed with %s" % code
                continue
            if pause:
                await asyncio.sleep(pause)

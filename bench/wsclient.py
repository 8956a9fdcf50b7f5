"""A lean WebSocket client for many sockets per process: it records (sequence, receive time).

The server's frames are small unmasked text frames, so a plain asyncio protocol reads them
with a fraction of a general client's CPU: clients share the server's two cores, and every
microsecond they spend is one the server does not get. Pings are answered (daphne closes
sockets that do not pong), close frames are recorded with their code.
"""

from __future__ import annotations

import array
import asyncio
import base64
import collections
import multiprocessing.connection
import os
import re
import time
from typing import Any

# The writer's message text starts with "s<sequence>:".
SEQUENCE = re.compile(rb'"s(\d+):')
PRESENCE = b'"did_alter_presence"'
CONNECT_CONCURRENCY = 64


class Recorder:
    """What one client process saw: sequence numbers with their receive times, close codes."""

    def __init__(self) -> None:
        self.seqs = array.array("q")
        self.times = array.array("d")
        self.closes: collections.Counter[int] = collections.Counter()
        self.frames = 0
        self.presence = 0
        # Frames whose sequence number was not above its socket's last one: sent twice, or out
        # of order. The product promises neither happens; a benchmark says so if it does.
        self.repeated = 0

    def take(self) -> tuple[bytes, bytes, dict[int, int]]:
        taken = (self.seqs.tobytes(), self.times.tobytes(), dict(self.closes))
        self.seqs = array.array("q")
        self.times = array.array("d")
        return taken


class Socket(asyncio.Protocol):
    """One page's socket."""

    def __init__(self, request: bytes, recorder: Recorder, keep_frames: bool = False) -> None:
        self.request = request
        self.recorder = recorder
        self.opened: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.buffer = bytearray()
        self.upgraded = False
        self.keep_frames = keep_frames
        self.frames: list[bytes] = []
        self.presence = 0
        self.last_seq = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_result(0)
        if not self.closed.done():
            self.recorder.closes[1006] += 1
            self.closed.set_result(1006)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = int(bytes(buffer[9:12]))
            del buffer[: end + 4]
            self.upgraded = status == 101
            self.opened.set_result(status)
            if not self.upgraded:
                assert self.transport is not None
                self.transport.close()
                return
        offset = 0
        size = len(buffer)
        while size - offset >= 2:
            opcode = buffer[offset] & 0x0F
            length = buffer[offset + 1] & 0x7F
            start = offset + 2
            if length == 126:
                length = int.from_bytes(buffer[start : start + 2], "big")
                start += 2
            elif length == 127:
                length = int.from_bytes(buffer[start : start + 8], "big")
                start += 8
            if size < start + length:
                break
            payload = bytes(buffer[start : start + length])
            offset = start + length
            if opcode == 1:
                self.recorder.frames += 1
                if PRESENCE in payload:
                    self.recorder.presence += 1
                    self.presence += 1
                found = SEQUENCE.search(payload)
                if found is not None:
                    seq = int(found.group(1))
                    if seq <= self.last_seq:
                        self.recorder.repeated += 1
                    self.last_seq = max(seq, self.last_seq)
                    self.recorder.seqs.append(seq)
                    self.recorder.times.append(now)
                if self.keep_frames:
                    self.frames.append(payload)
            elif opcode == 9:
                self._send(0xA, payload)
            elif opcode == 8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.recorder.closes[code] += 1
                if not self.closed.done():
                    self.closed.set_result(code)
                assert self.transport is not None
                self.transport.close()
                return
        del buffer[:offset]

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._send(0x8, (1000).to_bytes(2, "big"))
            if not self.closed.done():
                self.closed.set_result(1000)
            self.transport.close()

    def _send(self, opcode: int, payload: bytes) -> None:
        # Client frames are masked; a zero mask leaves the payload as it is.
        assert self.transport is not None and len(payload) < 126
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)


def request(port: int, path: str, cookie: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:%d\r\n"
        "Cookie: %s\r\n\r\n" % (path, port, key, port, cookie)
    ).encode()


async def open_socket(
    port: int, path: str, cookie: str, recorder: Recorder, keep_frames: bool = False, timeout: float = 60
) -> Socket:
    loop = asyncio.get_running_loop()
    _, sock = await loop.create_connection(
        lambda: Socket(request(port, path, cookie), recorder, keep_frames), "127.0.0.1", port
    )
    status = await asyncio.wait_for(sock.opened, timeout)
    if status != 101:
        raise ConnectionError("handshake answered %s" % status)
    return sock


def client_main(
    conn: multiprocessing.connection.Connection, port: int, path: str, cookies: list[str]
) -> None:
    """A client process: open one socket per cookie, then answer the benchmark's commands."""
    asyncio.run(_client(conn, port, path, cookies))


async def _client(
    conn: multiprocessing.connection.Connection, port: int, path: str, cookies: list[str]
) -> None:
    recorder = Recorder()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    sockets: list[Socket] = []
    failed = 0

    async def one(cookie: str) -> None:
        nonlocal failed
        async with gate:
            try:
                sockets.append(await open_socket(port, path, cookie, recorder))
            except (OSError, ConnectionError, TimeoutError):
                failed += 1

    await asyncio.gather(*(one(cookie) for cookie in cookies))
    conn.send(("ready", len(sockets), failed))
    loop = asyncio.get_running_loop()
    while True:
        command: Any = await loop.run_in_executor(None, conn.recv)
        if command == "count":
            conn.send((len(recorder.seqs), sum(recorder.closes.values())))
        elif command == "frames":
            conn.send((recorder.frames, recorder.presence, max((s.presence for s in sockets), default=0)))
        elif command == "dump":
            conn.send(recorder.take())
        elif command == "stop":
            for sock in sockets:
                sock.close()
            await asyncio.sleep(0.2)
            conn.send("stopped")
            return

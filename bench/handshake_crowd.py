"""A crowd of WebSocket clients in separate processes that open their sockets together when told.

bench/handshake.py times them: each process reports when its first connect began, when its last
socket opened, how many opened or failed, and each handshake's time; then which frames arrived.
"""

from __future__ import annotations

import asyncio
import multiprocessing.connection
import time
from typing import Any

from bench import rig, wsclient

OPEN_TIMEOUT = 30.0


def client_main(
    conn: multiprocessing.connection.Connection, port: int, path: str, cookies: list[str]
) -> None:
    """A client process: on "go", open one socket per cookie at once; report the timings."""
    asyncio.run(_client(conn, port, path, cookies))


async def _client(
    conn: multiprocessing.connection.Connection, port: int, path: str, cookies: list[str]
) -> None:
    recorder = wsclient.Recorder()
    sockets: list[wsclient.Socket] = []
    loop = asyncio.get_running_loop()
    conn.send("ready")
    command = await loop.run_in_executor(None, conn.recv)
    sequential = command == "sequential"
    opened_at: list[float] = []
    took: list[float] = []
    failed = 0

    async def one(cookie: str) -> None:
        nonlocal failed
        started = time.monotonic()
        try:
            sockets.append(await wsclient.open_socket(port, path, cookie, recorder, timeout=OPEN_TIMEOUT))
        except (OSError, ConnectionError, TimeoutError):
            failed += 1
            return
        opened_at.append(time.monotonic())
        took.append(opened_at[-1] - started)

    first = time.monotonic()
    if sequential:
        for cookie in cookies:
            await one(cookie)
    else:
        await asyncio.gather(*(one(cookie) for cookie in cookies))
    conn.send((first, max(opened_at, default=first), len(sockets), failed, took))
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command == "seqs":
            conn.send((list(recorder.seqs), dict(recorder.closes), recorder.repeated))
        elif command == "stop":
            for sock in sockets:
                sock.close()
            await asyncio.sleep(0.2)
            conn.send("stopped")
            return


class Crowd:
    """Client processes that open their shares of ``cookies`` together when told to."""

    def __init__(self, port: int, path: str, cookies: list[str], procs: int, mode: str = "burst") -> None:
        self.pipes: list[multiprocessing.connection.Connection] = []
        self.processes: list[Any] = []
        for i in range(procs):
            mine, theirs = rig.CTX.Pipe()
            process = rig.CTX.Process(
                target=client_main, args=(theirs, port, path, cookies[i::procs]), daemon=True
            )
            process.start()
            self.pipes.append(mine)
            self.processes.append(process)
        # Spawning takes a while: the crowd starts when every process is ready, not as each is.
        for pipe in self.pipes:
            if not pipe.poll(60) or pipe.recv() != "ready":
                raise RuntimeError("client process did not start")
        for pipe in self.pipes:
            pipe.send(mode)
        answers = []
        deadline = time.monotonic() + OPEN_TIMEOUT * 2 + (len(cookies) if mode == "sequential" else 0)
        for pipe in self.pipes:
            if not pipe.poll(max(deadline - time.monotonic(), 0.1)):
                raise RuntimeError("client process did not report its handshakes")
            answers.append(pipe.recv())
        self.first = min(a[0] for a in answers)
        self.last = max(a[1] for a in answers)
        self.opened = sum(a[2] for a in answers)
        self.failed = sum(a[3] for a in answers)
        self.took = sorted(t for a in answers for t in a[4])

    def got(self, seq: int) -> tuple[int, dict[int, int], int]:
        """How many sockets received the frame of message ``seq``, the close codes seen, and how
        many frames repeated or went back on a sequence number their socket had already seen."""
        for pipe in self.pipes:
            pipe.send("seqs")
        count, closes, repeated = 0, dict[int, int](), 0
        for pipe in self.pipes:
            seqs, closed, again = pipe.recv()
            count += seqs.count(seq)
            repeated += again
            for code, n in closed.items():
                closes[code] = closes.get(code, 0) + n
        return count, closes, repeated

    def stop(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send("stop")
                if pipe.poll(10):
                    pipe.recv()
            except (OSError, EOFError):
                pass
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()

"""The processes that load a server: WebSocket clients holding many sockets, and a paced writer.

They run in spawned processes (bench/wsclient.py, bench/writers.py) so the measuring process
never competes with them for the event loop; these classes drive them over pipes.
"""

from __future__ import annotations

import array
import contextlib
import multiprocessing
import multiprocessing.connection
import time
from typing import Any

from bench import writers, wsclient
from bench.rig import CTX, Config
from bench.servers import SETTINGS


class Clients:
    """Client processes holding ``count`` sockets on one room between them."""

    def __init__(self, port: int, path: str, cookies: list[str], procs: int) -> None:
        self.pipes: list[multiprocessing.connection.Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for i in range(procs):
            share = cookies[i::procs]
            if not share:
                continue
            mine, theirs = CTX.Pipe()
            child = CTX.Process(target=wsclient.client_main, args=(theirs, port, path, share), daemon=True)
            child.start()
            self.pipes.append(mine)
            self.processes.append(child)
        self.opened = 0
        self.failed = 0
        for pipe, process in zip(self.pipes, self.processes, strict=True):
            deadline = time.monotonic() + 180
            while not pipe.poll(0.5):
                if not process.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError("client process did not connect its sockets")
            _, opened, failed = pipe.recv()
            self.opened += opened
            self.failed += failed

    def ask(self, command: str) -> list[Any]:
        for pipe in self.pipes:
            pipe.send(command)
        return [pipe.recv() for pipe in self.pipes]

    def received(self) -> tuple[int, int]:
        answers = self.ask("count")
        return sum(a[0] for a in answers), sum(a[1] for a in answers)

    def dump(self) -> tuple[array.array[int], array.array[float], dict[int, int]]:
        seqs: array.array[int] = array.array("q")
        times: array.array[float] = array.array("d")
        closes: dict[int, int] = {}
        for seq_bytes, time_bytes, closed in self.ask("dump"):
            seqs.frombytes(seq_bytes)
            times.frombytes(time_bytes)
            for code, n in closed.items():
                closes[code] = closes.get(code, 0) + n
        return seqs, times, closes

    def stop(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            self.ask("stop")
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()


class Writer:
    """A paced writer process for one design."""

    def __init__(self, design: str, config: Config, fixtures: dict[str, Any]) -> None:
        self.pipe, theirs = CTX.Pipe()
        env = {"BENCH_REDIS_PREFIX": config.redis_prefix, "DJANGO_DEBUG": "0"}
        self.process = CTX.Process(
            target=writers.paced_main,
            args=(theirs, SETTINGS[design], config.url, fixtures["room_id"], fixtures["sender_id"], env),
        )
        self.process.start()
        if self.pipe.recv() != "ready":
            raise RuntimeError("writer did not start")

    def write(self, first: int, count: int, rate: float) -> array.array[float]:
        self.pipe.send(("write", first, count, rate))
        committed: array.array[float] = array.array("d")
        committed.frombytes(self.pipe.recv())
        return committed

    def stop(self) -> None:
        self.pipe.send(("stop",))
        self.process.join(10)


class Sequence:
    """Globally unique sequence numbers, so a late frame never counts for a later round."""

    def __init__(self) -> None:
        self.next = 1

    def take(self, count: int) -> int:
        first = self.next
        self.next += count
        return first


class Both(Clients):
    """Two client groups asked as one."""

    def __init__(self, *groups: Clients) -> None:
        self.pipes = [p for g in groups for p in g.pipes]
        self.processes = [p for g in groups for p in g.processes]
        self.opened = sum(g.opened for g in groups)
        self.failed = sum(g.failed for g in groups)

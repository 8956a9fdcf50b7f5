"""Drive ``tests.layer_peer`` processes from a test: start one, read its lines, wait for its end."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import sys
from typing import Any

from tests import servers

ROOT = pathlib.Path(__file__).resolve().parents[1]


class Peer:
    """One separate process using the channel layer against the test database."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, *args: str) -> Peer:
        env = {**os.environ, "DATABASE_URL": servers.database_url(), "DJANGO_DEBUG": "0"}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.layer_peer",
            *args,
            env=env,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def line(self, timeout: float = 30) -> dict[str, Any]:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        assert raw, "the peer process ended early (exit code %s)" % self.process.returncode
        parsed: dict[str, Any] = json.loads(raw)
        return parsed

    async def ready(self) -> str:
        channel: str = (await self.line())["ready"]
        return channel

    async def got(self) -> dict[str, Any]:
        message: dict[str, Any] = (await self.line())["got"]
        return message

    async def finish(self, timeout: float = 30) -> None:
        code = await asyncio.wait_for(self.process.wait(), timeout)
        assert code == 0, "the peer process exited with %d" % code

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


async def run(*args: str) -> None:
    """Run one peer action to its end (a send, a group_send)."""
    peer = await Peer.start(*args)
    await peer.finish()

"""The Channels tutorial's chat and a runworker job, unchanged, on two servers and a worker process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
import websockets.asyncio.client as ws_client

from tests import servers
from tests.layer_peers import ROOT

pytestmark = pytest.mark.django_db(transaction=True)

SETTINGS = {"DJANGO_SETTINGS_MODULE": "tests.channels_app.settings"}
APP = [*servers.DAPHNE[:-1], "tests.channels_app.asgi:application"]


async def _next(socket: ws_client.ClientConnection) -> str:
    message: str = json.loads(await asyncio.wait_for(socket.recv(), 30))["message"]
    return message


async def test_tutorial_chat_and_runworker_across_processes():
    env = {**os.environ, "DATABASE_URL": servers.database_url(), "DJANGO_DEBUG": "0", **SETTINGS}
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "runworker", "thumbnails"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )
    try:
        with servers.daphne(2, extra_env=SETTINGS, command=APP) as (one, two):
            first = await ws_client.connect(one.ws + "/ws/chat/lobby/", open_timeout=10)
            second = await ws_client.connect(two.ws + "/ws/chat/lobby/", open_timeout=10)
            elsewhere = await ws_client.connect(two.ws + "/ws/chat/kitchen/", open_timeout=10)

            await first.send(json.dumps({"message": "hello from one"}))
            assert await _next(second) == "hello from one"
            assert await _next(first) == "hello from one"
            await second.send(json.dumps({"message": "hello from two"}))
            assert await _next(first) == "hello from two"
            assert await _next(second) == "hello from two"

            # Server 2 sends to the worker's named channel; the worker (another process)
            # answers the asking socket's own channel and tells the whole room.
            await second.send(json.dumps({"message": "/thumb cat.png"}))
            assert sorted([await _next(second), await _next(second)]) == [
                "thumbnail ready: cat.png",
                "your thumbnail cat.png",
            ]
            assert await _next(first) == "thumbnail ready: cat.png"

            # The other room heard none of it: its first frame is its own message.
            await elsewhere.send(json.dumps({"message": "kitchen only"}))
            assert await _next(elsewhere) == "kitchen only"
            for socket in (first, second, elsewhere):
                await socket.close()
    finally:
        worker.terminate()
        worker.wait(10)

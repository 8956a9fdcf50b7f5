"""Real daphne processes serving the project against the test database."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator

from psycopg import conninfo

from listener import connection


def database_url() -> str:
    """A libpq URL for the test database that pytest-django created."""
    parsed = conninfo.conninfo_to_dict(connection.django_conninfo())
    params = {key: str(value) for key, value in parsed.items() if value is not None}
    user = urllib.parse.quote(params.pop("user", ""))
    password = urllib.parse.quote(params.pop("password", ""))
    dbname = urllib.parse.quote(params.pop("dbname"))
    host = params.pop("host", "")
    if host.startswith("/"):
        params["host"] = host  # a Unix socket folder travels as a query parameter
        host = ""
    port = params.pop("port", "")
    netloc = "%s%s@%s%s" % (user, ":" + password if password else "", host, ":" + port if port else "")
    query = urllib.parse.urlencode(params)
    return "postgresql://%s/%s%s" % (netloc, dbname, "?" + query if query else "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """One daphne process on a loopback port."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port

    @property
    def http(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    @property
    def ws(self) -> str:
        return "ws://127.0.0.1:%d" % self.port


# The listen backlog of `make run`'s daphne (the Makefile's BACKLOG): tests open crowds too, and
# with Twisted's default of 50 a crowd's SYNs overflow the accept queue and wait 1 s, 3 s, ... to
# be sent again.
BACKLOG = 4096
# `make run`'s HANDSHAKE_TIMEOUT: how long daphne waits for the application to accept a socket.
HANDSHAKE_TIMEOUT = 30
DAPHNE = ["-m", "daphne", "-e", "tcp:port={port}:interface=127.0.0.1:backlog=%d" % BACKLOG]
DAPHNE += ["--websocket_connect_timeout", str(HANDSHAKE_TIMEOUT)]
DAPHNE += ["project.asgi:application"]
# `make serve`'s uvicorn: None leaves uvicorn's own default (2048).
UVICORN_BACKLOG: int | None = None
UVICORN = ["-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}", "--ws", "websockets-sansio"]
UVICORN += ["--lifespan", "on", "project.asgi:application"]


def spawn(
    port: int, extra_env: dict[str, str] | None = None, command: list[str] = DAPHNE
) -> subprocess.Popen[bytes]:
    """Start one server process on ``port`` against the test database, unless ``extra_env``
    names another ``DATABASE_URL`` (not waiting for it)."""
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_DEBUG": "0", **(extra_env or {})}
    return subprocess.Popen(
        [sys.executable, *(arg.format(port=port) for arg in command)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if os.environ.get("REALTIME_TEST_QUIET", "1") == "1" else None,
    )


@contextlib.contextmanager
def daphne(
    count: int = 1, extra_env: dict[str, str] | None = None, command: list[str] = DAPHNE
) -> Iterator[list[Server]]:
    """Start ``count`` server processes (daphne unless told otherwise) and wait until each
    answers ``/health``."""
    started: list[Server] = []
    try:
        for _ in range(count):
            port = free_port()
            started.append(Server(spawn(port, extra_env, command), port))
        for server in started:
            wait_until_up(server)
        yield started
    finally:
        for server in started:
            server.process.terminate()
        for server in started:
            try:
                server.process.wait(10)
            except subprocess.TimeoutExpired:
                server.process.kill()


def reused(server: Server, timeout: float = 30) -> Server:
    """``server``, started once for several tests, for one more test, once it has recovered from
    whatever the previous test did to its connections: ``/health`` answers 200 (its listener is
    connected) and its waker has settled (leading, or standing by for another's), so writes wake
    it at once rather than at the next safety poll.

    A shared server suits tests that need no fresh process: each test's rows are flushed after it
    (``transactional_db``) and ids are never reused, so nothing a server holds about an earlier
    test's users, rooms or sockets names anything of the next one's."""
    deadline = time.monotonic() + timeout
    while True:
        wait_until_up(server, max(deadline - time.monotonic(), 1))
        with urllib.request.urlopen(server.http + "/health", timeout=2) as response:
            waker = json.loads(response.read()).get("waker", {}).get("state", "leading")
        if waker in {"leading", "standby"}:
            return server
        if time.monotonic() > deadline:
            raise RuntimeError("the waker of daphne on port %d is still %s" % (server.port, waker))
        time.sleep(0.1)


def wait_until_up(server: Server, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError("daphne exited with %s" % server.process.returncode)
        try:
            with urllib.request.urlopen(server.http + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("daphne on port %d did not come up" % server.port)

"""/health and /metrics on real servers: who counts as a loopback probe, and a fresh process's first probe."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from django.contrib.auth.models import User
from psycopg import conninfo

from listener import connection
from tests import servers
from tests.conftest import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

PROXY_DAPHNE = [*servers.DAPHNE[:-1], "--proxy-headers", servers.DAPHNE[-1]]
FORWARDED = [
    {"X-Forwarded-For": "127.0.0.1, 203.0.113.9"},
    {"X-Forwarded-For": "127.0.0.1"},
    {"Forwarded": "for=127.0.0.1"},
    {"X-Real-IP": "127.0.0.1"},
]


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_forwarded_clients_are_never_loopback_probes_behind_proxy_headers(transactional_db: None) -> None:
    staff = User.objects.create_user("stella", password="pw", is_staff=True)
    cookie = session_cookie(staff).decode()
    with servers.daphne(1, command=PROXY_DAPHNE) as (server,):
        for path in ("/health", "/metrics"):
            assert _get(server.http + path)[0] == 200, path  # a probe on the host itself
            for headers in FORWARDED:
                assert _get(server.http + path, headers)[0] == 403, (path, headers)
                # Staff still reach them through the proxy.
                assert _get(server.http + path, {**headers, "Cookie": cookie})[0] == 200, (path, headers)


def _wait_for_port(server: servers.Server, timeout: float = 30) -> None:
    """Until the server accepts TCP connections; no HTTP request, so nothing starts the listener."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.process.poll() is None, "server exited with %s" % server.process.returncode
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("server on port %d did not listen" % server.port)


def _slow_listener_dsn(blackhole: socket.socket) -> str:
    """The test database, reached only after a first host that accepts and never answers.

    The listener's first connection then takes about a second (libpq's per-host timeout),
    far longer than a request takes, so a probe that does not wait sees it unconnected.
    """
    params = conninfo.conninfo_to_dict(connection.django_conninfo())
    params["host"] = "127.0.0.1,%s" % params.get("host", "")
    params["port"] = "%d,%s" % (blackhole.getsockname()[1], params.get("port", "5432"))
    return conninfo.make_conninfo(
        "", **{k: str(v) for k, v in params.items() if v is not None}, connect_timeout="1"
    )


@pytest.mark.parametrize("command", [servers.DAPHNE, servers.UVICORN], ids=["daphne", "uvicorn"])
def test_a_fresh_process_first_health_probe_sees_the_listener_connected(
    transactional_db: None, command: list[str]
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as blackhole:
        # The server's port is chosen while the black hole holds its own: chosen before, the
        # black hole could be given the same port, and the probe would wait on it for ever.
        port = servers.free_port()
        env = {"REALTIME_LISTENER_DATABASE_URL": _slow_listener_dsn(blackhole)}
        server = servers.Server(servers.spawn(port, env, command=command), port)
        try:
            _wait_for_port(server)
            status, body = _get(server.http + "/health")
            assert status == 200, body
            assert json.loads(body)["listener"]["connected"] is True
        finally:
            server.process.terminate()
            try:
                server.process.wait(10)
            except subprocess.TimeoutExpired:
                server.process.kill()

"""A crowd of page loads stays within a small Postgres, and a database failure is not a logout.

One real daphne with the project's default settings serves a throwaway Postgres started with
``max_connections = 40`` (the shared server must not be driven to its limit): 200 concurrent
logged-in loads of a room page all answer 200 while the server's client backends stay at 30 or
fewer. Then that Postgres is stopped: a socket handshake with a valid session closes with 4503
(try again), never 4401, and the room page answers 500, not a redirect to the login page.
"""

from __future__ import annotations

import asyncio
import collections.abc
import subprocess
import urllib.parse
from typing import Any

import pytest
import websockets
import websockets.asyncio.client as ws_client
import websockets.exceptions

from listener.sockets import decisions
from tests import http_crowd, servers, throwaway_postgres

PAGES = 200
MAX_BACKENDS = 30

pytestmark = pytest.mark.timeout(420)


@pytest.fixture(scope="module")
def crowd_site() -> collections.abc.Iterator[
    tuple[throwaway_postgres.Cluster, servers.Server, dict[str, Any]]
]:
    """Postgres with max_connections 40, 40 members with sessions, one daphne with the defaults."""
    with throwaway_postgres.cluster(max_connections=40) as cluster:
        fixtures = throwaway_postgres.seed(cluster.url, 40)
        port = servers.free_port()
        env = {"DATABASE_URL": cluster.url}
        server = servers.Server(servers.spawn(port, env), port)
        try:
            servers.wait_until_up(server)
            yield cluster, server, fixtures
        finally:
            server.process.terminate()
            try:
                server.process.wait(10)
            except subprocess.TimeoutExpired:
                server.process.kill()


def test_two_hundred_page_loads_all_answer_and_stay_within_the_pool(
    crowd_site: tuple[throwaway_postgres.Cluster, servers.Server, dict[str, Any]],
) -> None:
    cluster, server, fixtures = crowd_site
    path = "/rooms/%d/" % fixtures["room"]
    cookies = list(fixtures["cookies"])
    with cluster.admin() as conn, http_crowd.BackendSampler(conn) as sampler:
        statuses = asyncio.run(asyncio.wait_for(http_crowd.crowd(server.port, path, cookies, PAGES), 180))
    assert sampler.errors == []
    assert http_crowd.counts(statuses) == {200: PAGES}
    assert 0 < sampler.peak <= MAX_BACKENDS


async def _close_code(server: servers.Server, room: int, cookie: str) -> int:
    url = "%s/ws/room/%d" % (server.ws, room)
    origin = websockets.Origin("http://" + urllib.parse.urlsplit(url).netloc)
    async with ws_client.connect(
        url, origin=origin, additional_headers={"Cookie": cookie}, open_timeout=10
    ) as ws:
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 20)
        except websockets.exceptions.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else 1006


def test_a_handshake_while_postgres_is_down_closes_4503_not_4401(
    crowd_site: tuple[throwaway_postgres.Cluster, servers.Server, dict[str, Any]],
) -> None:
    cluster, server, fixtures = crowd_site
    cookie = list(fixtures["cookies"])[1]
    cluster.pg_ctl("stop")
    code = asyncio.run(asyncio.wait_for(_close_code(server, int(fixtures["room"]), cookie), 30))
    assert code == decisions.Code.UNAVAILABLE
    path = "/rooms/%d/" % fixtures["room"]
    statuses = asyncio.run(asyncio.wait_for(http_crowd.crowd(server.port, path, [cookie], 1), 60))
    assert statuses == [500]

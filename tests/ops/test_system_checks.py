"""The system checks refuse what cannot work and say why: ``manage.py check`` and ``migrate`` as a
newcomer runs them (subprocesses with other settings), the settings rules through ``run_checks``."""

from __future__ import annotations

import datetime
import os
import pathlib
import sqlite3
import subprocess
import sys
from typing import Any

import pytest
from django.core import checks
from django.test import override_settings

from listener import conf
from listener.ops import system_checks
from tests import servers

ROOT = pathlib.Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "DATABASE_URL": servers.database_url(), **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def listener_messages() -> list[checks.CheckMessage]:
    return [m for m in checks.run_checks() if (m.id or "").startswith("listener.")]


def test_the_project_passes_every_check_including_the_database_ones() -> None:
    done = manage("check", "--database", "default", "--fail-level", "WARNING")
    assert done.returncode == 0, done.stderr
    assert "no issues" in done.stdout


def test_sqlite_is_refused_by_check_with_a_hint() -> None:
    done = manage("check", DJANGO_SETTINGS_MODULE="tests.ops.sqlite_settings")
    assert done.returncode == 1
    assert "(listener.E001) The default database is sqlite" in done.stderr
    assert "HINT: Point DATABASES['default'] at a PostgreSQL 14+ server" in done.stderr


def test_migrate_on_sqlite_stops_before_any_migration(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "db.sqlite3"
    done = manage(
        "migrate", "--noinput", DJANGO_SETTINGS_MODULE="tests.ops.sqlite_settings", SQLITE_PATH=str(path)
    )
    assert done.returncode == 1
    assert "(listener.E001)" in done.stderr and "needs PostgreSQL" in done.stderr
    assert 'near "OR"' not in done.stderr + done.stdout
    assert "Applying" not in done.stdout
    if path.exists():
        with sqlite3.connect(path) as db:
            tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        assert tables == []


def test_the_version_check_runs_only_with_a_database() -> None:
    """An unreachable server: plain ``check`` does not connect; ``check --database default`` says so."""
    # The pool would wait its default 30 s for a connection that cannot come; 2 s says the same.
    gone = {
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nothing?connect_timeout=2",
        "DJANGO_DB_POOL_TIMEOUT": "2",
    }
    assert manage("check", **gone).returncode == 0
    done = manage("check", "--database", "default", **gone)
    assert done.returncode == 1
    assert "(listener.E003) Cannot reach the default database to check its version" in done.stderr


def test_postgres_older_than_14_is_refused() -> None:
    old = system_checks.version_problem(130012)
    assert old is not None and old.id == "listener.E002" and old.is_serious()
    assert "PostgreSQL 13.12; the listener needs 14 or later" in old.msg
    assert system_checks.version_problem(140000) is None
    assert system_checks.version_problem(170002) is None


def test_default_settings_pass() -> None:
    assert listener_messages() == []


WRONG = [
    ("REALTIME_POLL_INTERVAL", "5", "must be a number of seconds above 0, not '5'"),
    ("REALTIME_POLL_INTERVAL", 0, "must be a number of seconds above 0, not 0"),
    ("REALTIME_WAKER_INTERVAL", True, "must be a number of seconds above 0, not True"),
    ("REALTIME_SLOW_GRACE", float("nan"), "must be a number of seconds above 0, not nan"),
    ("REALTIME_NOTIFY", "Waker", "must be one of 'waker', 'always', 'off', not 'Waker'"),
    ("REALTIME_SOCKET_BACKLOG", 10.5, "must be a whole number above 0, not 10.5"),
    ("REALTIME_REPLAY_PAGE", 0, "must be a whole number above 0, not 0"),
    ("REALTIME_MAX_SOCKETS_PER_USER", -1, "must be None or a whole number above 0, not -1"),
    ("REALTIME_PRESENCE", "1", "must be True or False, not '1'"),
    ("REALTIME_GC_THRESHOLDS", (700, 10, 10, 10), "must be None or 1 to 3 whole numbers >= 0"),
    ("REALTIME_RETENTION", "7 days", "must be a duration: '7 days' is not a duration like 90s"),
    ("REALTIME_RETENTION", 7, "must be a duration like '7d' or '12h', not 7"),
    ("REALTIME_LISTENER_DATABASE_URL", "", "must be None or a connection string"),
]


@pytest.mark.parametrize(("name", "value", "problem"), WRONG, ids=["%s=%r" % w[:2] for w in WRONG])
def test_a_wrong_setting_is_an_error_naming_it(name: str, value: Any, problem: str) -> None:
    with override_settings(**{name: value}):
        found = listener_messages()
    assert [(m.id, m.level) for m in found] == [("listener.E004", checks.ERROR)]
    assert found[0].msg.startswith("%s %s" % (name, problem))
    assert "Its default is %r" % conf.DEFAULTS[name] in (found[0].hint or "")


def test_pairs_of_settings_must_agree() -> None:
    with override_settings(REALTIME_RECONNECT_BASE=10.0, REALTIME_RECONNECT_CAP=1.0):
        assert [m.msg for m in listener_messages()] == [
            "REALTIME_RECONNECT_CAP must be at least REALTIME_RECONNECT_BASE."
        ]
    with override_settings(REALTIME_PRESENCE_HEARTBEAT=30.0, REALTIME_PRESENCE_TIMEOUT=10.0):
        (found,) = listener_messages()
        assert found.id == "listener.E004" and found.msg.startswith(
            "REALTIME_PRESENCE_TIMEOUT must be longer"
        )


def test_a_setting_without_a_rule_is_checked_against_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """A setting added to DEFAULTS (by a later change) is validated before anyone writes its rule."""
    monkeypatch.setitem(conf.DEFAULTS, "REALTIME_SOMETHING_NEW", 1.5)
    assert listener_messages() == []
    with override_settings(REALTIME_SOMETHING_NEW="2"):
        (found,) = listener_messages()
    assert found.msg == "REALTIME_SOMETHING_NEW must be a number like its default 1.5, not '2'."


def test_an_unknown_realtime_setting_is_a_warning_with_a_guess() -> None:
    with override_settings(REALTIME_POL_INTERVAL=3):
        (found,) = listener_messages()
    assert (found.id, found.level) == ("listener.W002", checks.WARNING)
    assert found.hint == "Did you mean REALTIME_POLL_INTERVAL?"


def test_accessors_give_typed_values() -> None:
    with override_settings(REALTIME_NOTIFY="off", REALTIME_GC_THRESHOLDS=[700, 10], REALTIME_RETENTION="12h"):
        assert conf.notify() is conf.Notify.OFF
        assert conf.gc_thresholds() == (700, 10)
        assert conf.retention() == datetime.timedelta(hours=12)
    with override_settings(REALTIME_MAX_SOCKETS_PER_USER=None, REALTIME_LISTENER_DATABASE_URL=None):
        assert conf.max_sockets_per_user() is None
        assert conf.listener_database_url() is None


IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def test_no_channel_layer_is_a_warning() -> None:
    with override_settings(CHANNEL_LAYERS={}):
        (found,) = listener_messages()
    assert (found.id, found.level) == ("listener.W001", checks.WARNING)
    assert "listener.layer.PostgresChannelLayer" in (found.hint or "")


def test_another_layer_is_an_error_when_the_application_serves_real_time_sockets() -> None:
    with override_settings(CHANNEL_LAYERS=IN_MEMORY):  # ASGI_APPLICATION: the chat's consumers
        (found,) = listener_messages()
    assert (found.id, found.level) == ("listener.E005", checks.ERROR)
    assert found.msg == (
        "CHANNEL_LAYERS['default'] is 'channels.layers.InMemoryChannelLayer'; "
        "real-time sockets run only on listener.layer.PostgresChannelLayer."
    )


def test_another_layer_is_a_warning_when_the_application_cannot_tell() -> None:
    with override_settings(CHANNEL_LAYERS=IN_MEMORY, ASGI_APPLICATION="nowhere.asgi.application"):
        (found,) = listener_messages()
    assert (found.id, found.level) == ("listener.W003", checks.WARNING)
    assert "ModuleNotFoundError: No module named 'nowhere'" in (found.hint or "")

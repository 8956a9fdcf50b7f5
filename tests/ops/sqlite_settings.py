"""The project's settings with startproject's SQLite left as the default database (test_system_checks)."""

from __future__ import annotations

import os

from project.settings import *  # noqa: F403

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("SQLITE_PATH", ":memory:")}
}

"""The settings that mypy's Django plugin loads (``pyproject.toml``): the project's own, minus
the embedded Postgres.

The plugin imports settings to learn the apps, models and user model, and never connects. With
``DATABASE_URL`` unset, ``project.settings`` would start the embedded server (a subprocess and a
data folder) just to be read, so a URL that nothing connects to stands in for it here.
"""

from __future__ import annotations

import os

os.environ.setdefault("DATABASE_URL", "postgres://127.0.0.1/type-checking-never-connects")

from project.settings import *  # noqa: F403

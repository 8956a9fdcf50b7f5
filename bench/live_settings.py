"""The project's settings plus ``bench`` as an app, so its ``live.py`` (the refresh region) loads."""

from __future__ import annotations

from project.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]  # noqa: F405

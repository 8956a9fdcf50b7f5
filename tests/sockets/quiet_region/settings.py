"""The project's settings plus the quiet region's app."""

from __future__ import annotations

from project.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.sockets.quiet_region"]  # noqa: F405

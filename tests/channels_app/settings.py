"""The project's settings, serving the tutorial app of ``tests.channels_app`` instead of the chat."""

from __future__ import annotations

from project.settings import *  # noqa: F403

ASGI_APPLICATION = "tests.channels_app.asgi.application"

"""The project's settings with REALTIME_NOTIFY = "off": writes skip NOTIFY, the listener polls."""

from __future__ import annotations

from project.settings import *  # noqa: F403

REALTIME_NOTIFY = "off"

"""The project's settings with two more pages: the member's rooms as a project that runs Turbo's
or htmx's own client would render them (``tests/browser/own_clients_urls.py``)."""

from __future__ import annotations

from project.settings import *  # noqa: F403

ROOT_URLCONF = "tests.browser.own_clients_urls"

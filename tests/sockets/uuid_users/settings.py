"""The project's settings with a UUID-keyed user model (its app after ``listener``) and no chat."""

from __future__ import annotations

from project.settings import *  # noqa: F403

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "pgtrigger",
    "listener",
    # After listener on purpose: listener loads the user model's app first.
    "tests.sockets.uuid_users",
]
AUTH_USER_MODEL = "uuid_users.Member"
ROOT_URLCONF = "tests.sockets.uuid_users.urls"
ASGI_APPLICATION = "tests.sockets.uuid_users.asgi.application"
# A test database of its own beside the main suite's.
DATABASES["default"]["TEST"] = {"NAME": "test_%s_uuid_users" % DATABASES["default"]["NAME"]}  # noqa: F405
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405

"""Settings for the real-time chat project.

Everything a deployment changes comes from the environment; `project.settings_production`
layers the production hardening on top of this module.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import dj_database_url
import django_stubs_ext

from project import embedded_postgres

# Admin and form classes take type parameters for mypy; this makes them subscriptable at run time.
django_stubs_ext.monkeypatch()

BASE_DIR = pathlib.Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
# Out of the box the server answers on loopback names only.
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "channels",
    "pgtrigger",
    "listener",
    "chat",
    "chat.throttle",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
ASGI_APPLICATION = "project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Requests and socket handshakes take their connections from one pool per server process, at
# most DJANGO_DB_POOL_MAX_SIZE. Under ASGI every request runs in a thread of its own, so a
# persistent connection (CONN_MAX_AGE) is never reused and one is left open per request until
# Postgres refuses everyone; with CONN_MAX_AGE = 0 each concurrent request opens its own.
# 0 turns the pool off (then DJANGO_CONN_MAX_AGE applies). See docs/DEPLOYING.md "Connections".
DB_POOL_MAX_SIZE = int(os.environ.get("DJANGO_DB_POOL_MAX_SIZE", "20"))
# How long a request waits for a pooled connection before failing with HTTP 500. A crowd queues
# here: 200 concurrent page loads on one process of this 2-core machine took 11-14 s in all, so
# the last ones waited about 10 s (tests/bench/page_crowd.py). A socket's handshake gives up
# sooner, with 4503 (REALTIME_HANDSHAKE_DATABASE_TIMEOUT).
DB_POOL_TIMEOUT = float(os.environ.get("DJANGO_DB_POOL_TIMEOUT", "30"))

# DATABASE_URL selects a server; unset, the embedded one is started (see project/embedded_postgres.py).
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or embedded_postgres.database_url(),
        conn_max_age=0 if DB_POOL_MAX_SIZE else int(os.environ.get("DJANGO_CONN_MAX_AGE", "0")),
        conn_health_checks=True,
    )
}
if DB_POOL_MAX_SIZE:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(2, DB_POOL_MAX_SIZE),
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": DB_POOL_TIMEOUT,
    }
if os.environ.get("DJANGO_TEST_DATABASE"):
    # Lets several test runs share one server without sharing a test database.
    DATABASES["default"]["TEST"] = {"NAME": os.environ["DJANGO_TEST_DATABASE"]}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The only channel layer: in-process fan-out, Postgres as the bus between processes. Typed as
# Channels reads it, so a settings module that imports this one may give a layer its CONFIG.
CHANNEL_LAYERS: dict[str, dict[str, Any]] = {"default": {"BACKEND": "listener.layer.PostgresChannelLayer"}}

# The listener's own connection. Point it past any transaction-pooling proxy (PgBouncer in
# transaction mode drops LISTEN silently); unset, the default database's settings are used.
REALTIME_LISTENER_DATABASE_URL = os.environ.get("REALTIME_LISTENER_DATABASE_URL") or None

# Threads that run sockets' handshake reads, each with a pooled connection only while it reads
# (listener/sockets/handshake_threads.py); 0: Channels' single database thread.
REALTIME_HANDSHAKE_THREADS = int(os.environ.get("REALTIME_HANDSHAKE_THREADS", "4"))

# Presence: how often each server process beats, and how long a silent one lives on (a killed
# process's users leave within the sum).
REALTIME_PRESENCE = os.environ.get("REALTIME_PRESENCE", "1") == "1"
REALTIME_PRESENCE_HEARTBEAT = float(os.environ.get("REALTIME_PRESENCE_HEARTBEAT", "10"))
REALTIME_PRESENCE_TIMEOUT = float(os.environ.get("REALTIME_PRESENCE_TIMEOUT", "30"))
REALTIME_PRESENCE_WINDOW = float(os.environ.get("REALTIME_PRESENCE_WINDOW", "1"))

# Sessions in the database, with key cycles (login, password change) told apart from logouts, so
# that the sockets of the session that changed a password stay open (listener/sessions.py).
SESSION_ENGINE = "listener.sessions"

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Serve app static files straight from their folders until `collectstatic` has filled STATIC_ROOT.
WHITENOISE_AUTOREFRESH = DEBUG

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        # Daphne configures the root logger too; not propagating keeps each line single.
        "listener": {
            "handlers": ["console"],
            "level": os.environ.get("REALTIME_LOG_LEVEL", "INFO"),
            "propagate": False,
        },
        "chat": {
            "handlers": ["console"],
            "level": os.environ.get("REALTIME_LOG_LEVEL", "INFO"),
            "propagate": False,
        },
    },
}

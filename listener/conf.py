"""The listener's settings, all prefixed ``REALTIME_``, with their defaults."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Connection string of the listener's own LISTEN connection; default: DATABASES["default"].
    "REALTIME_LISTENER_DATABASE_URL": None,
    # Longest wait for a wake-up before the listener reads the log anyway (a missed NOTIFY
    # costs at most this much latency, never an event).
    "REALTIME_POLL_INTERVAL": 5.0,
    # "waker": this project's database connections set `realtime.notify = 'off'`, so their
    # triggers skip NOTIFY (whose commit lock makes concurrent writers commit one at a time),
    # and one elected waker per database NOTIFYs once per REALTIME_WAKER_INTERVAL in which an
    # event became visible (listener/waker.py). "always": every writing transaction NOTIFYs.
    # "off": no NOTIFY from this project's connections, and every listener polls the log every
    # REALTIME_QUIET_POLL_INTERVAL instead. In every mode, writers elsewhere (psql, other
    # apps) still NOTIFY unless their role or database sets `realtime.notify` too.
    "REALTIME_NOTIFY": "waker",
    "REALTIME_QUIET_POLL_INTERVAL": 0.01,
    # How often the elected waker looks for newly visible events (one cheap query per tick).
    "REALTIME_WAKER_INTERVAL": 0.005,
    # The pause after a tick that woke the listeners: under steady traffic, at most this many
    # wake-ups per second reach each listener (each reads a batch), so listeners' cost follows
    # this rate rather than the commit rate. Bounds the added latency under load.
    "REALTIME_WAKER_BUSY_INTERVAL": 0.02,
    # Reconnect backoff: full jitter between 0 and min(cap, base * 2**attempt) seconds.
    "REALTIME_RECONNECT_BASE": 0.1,
    "REALTIME_RECONNECT_CAP": 5.0,
    # Frames queued for one socket before it is closed as too slow (code 4008, resumable).
    "REALTIME_SOCKET_BACKLOG": 1000,
    # Events per replay query when a page resumes from a cursor.
    "REALTIME_REPLAY_PAGE": 500,
    # How long a connecting socket waits for this process's listener before closing with 4503.
    "REALTIME_LISTENER_READY_TIMEOUT": 10.0,
    # Open sockets one user may hold in one server process; the newest beyond it is closed with
    # 4429. None: no cap.
    "REALTIME_MAX_SOCKETS_PER_USER": 20,
    # Default age for `manage.py prune_events`.
    "REALTIME_RETENTION": "7d",
}


def get(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])

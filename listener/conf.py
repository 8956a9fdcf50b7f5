"""The listener's settings, all prefixed ``REALTIME_``: defaults, one typed accessor each, rules.

Code reads a setting through its accessor (``conf.poll_interval()``), never by name, so a typo is
an AttributeError and a value's meaning (``Notify.OFF``) is decided here once. The accessors do
not validate: ``conf_rules.problems()`` does, once at start-up, through a system check
(listener/ops/system_checks.py), so a wrong value stops ``manage.py check``,
``migrate`` and ``runserver`` with a message naming the setting instead of failing later inside
a socket. A setting added to ``DEFAULTS`` without a rule is checked against its default's type.
"""

from __future__ import annotations

import datetime
import enum
from typing import Any

from django.conf import settings

from listener import durations

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
    # Events per query when a page resumes from a cursor, and per page of a listener step (a
    # transaction of any size is read in pages of this many events).
    "REALTIME_REPLAY_PAGE": 500,
    # Replay queries in flight at once per process, however many sockets resume: the rest wait
    # their turn, so new sockets still find a database thread.
    "REALTIME_REPLAY_SLOTS": 2,
    # How long a socket's unread backlog may stay above REALTIME_SOCKET_BACKLOG without
    # shrinking before it is closed with 4008 (see listener/delivery.py).
    "REALTIME_SLOW_GRACE": 2.0,
    # How long a connecting socket waits for this process's listener before closing with 4503.
    "REALTIME_LISTENER_READY_TIMEOUT": 10.0,
    # Longest wait for a connection for a socket's handshake reads, while no other handshake's read
    # finishes, before it closes with 4503: under daphne's default 5 s handshake limit
    # (--websocket_connect_timeout), so a page reads "try again" rather than a dropped handshake
    # while Postgres or a free pooled connection is away. Reads that have their connection wait
    # for Postgres's answer.
    "REALTIME_HANDSHAKE_DATABASE_TIMEOUT": 4.0,
    # Threads that run handshakes' database reads (listener/sockets/handshake_threads.py), each
    # taking a pooled connection only while it reads, so a crowd of handshakes holds at most this
    # many of the pool's connections; 0: Channels' one database thread (docs/benchmarks_handshake.md).
    "REALTIME_HANDSHAKE_THREADS": 4,
    # Open sockets one user may hold in one server process; the newest beyond it is closed with
    # 4429. None: no cap.
    "REALTIME_MAX_SOCKETS_PER_USER": 20,
    # Presence: each server process beats every HEARTBEAT seconds; a process silent for TIMEOUT
    # seconds is taken for dead and its users leave (within TIMEOUT + HEARTBEAT).
    # Off: consumers that declare presence write no presence rows and send no presence events.
    "REALTIME_PRESENCE": True,
    "REALTIME_PRESENCE_HEARTBEAT": 10.0,
    "REALTIME_PRESENCE_TIMEOUT": 30.0,
    # Seconds a process gathers presence changes after the first before writing them together:
    # a topic's changes of one window reach each socket as one frame (`sync` when several), so
    # a crowd opening a room costs each page a few frames, and a tab opened and closed within
    # it costs nothing. It is also the delay of a lone join or leave.
    "REALTIME_PRESENCE_WINDOW": 1.0,
    # The garbage collector, set when the listener starts (listener/gcstats.py). FREEZE: move
    # what start-up created, and each batch of opened sockets, out of the collector's reach, so
    # a full collection does not walk every open socket (the tail of a broadcast); closed
    # sockets' cycles are collected once they reach a quarter of the open ones. THRESHOLDS: a
    # tuple for gc.set_threshold, or None to keep Python's.
    "REALTIME_GC_FREEZE": True,
    "REALTIME_GC_THRESHOLDS": None,
    # Default age for `manage.py prune_events`.
    "REALTIME_RETENTION": "7d",
}


class Notify(enum.StrEnum):
    """What wakes the listeners (``REALTIME_NOTIFY``)."""

    WAKER = "waker"
    ALWAYS = "always"
    OFF = "off"


def get(name: str) -> Any:
    """The raw value of ``name``; prefer the typed accessors below (this stays for callers not yet moved)."""
    return getattr(settings, name, DEFAULTS[name])


def listener_database_url() -> str | None:
    return get("REALTIME_LISTENER_DATABASE_URL") or None


def poll_interval() -> float:
    return float(get("REALTIME_POLL_INTERVAL"))


def notify() -> Notify:
    return Notify(get("REALTIME_NOTIFY"))


def quiet_poll_interval() -> float:
    return float(get("REALTIME_QUIET_POLL_INTERVAL"))


def waker_interval() -> float:
    return float(get("REALTIME_WAKER_INTERVAL"))


def waker_busy_interval() -> float:
    return float(get("REALTIME_WAKER_BUSY_INTERVAL"))


def reconnect_base() -> float:
    return float(get("REALTIME_RECONNECT_BASE"))


def reconnect_cap() -> float:
    return float(get("REALTIME_RECONNECT_CAP"))


def socket_backlog() -> int:
    return int(get("REALTIME_SOCKET_BACKLOG"))


def replay_page() -> int:
    return int(get("REALTIME_REPLAY_PAGE"))


def replay_slots() -> int:
    return int(get("REALTIME_REPLAY_SLOTS"))


def slow_grace() -> float:
    return float(get("REALTIME_SLOW_GRACE"))


def listener_ready_timeout() -> float:
    return float(get("REALTIME_LISTENER_READY_TIMEOUT"))


def handshake_database_timeout() -> float:
    return float(get("REALTIME_HANDSHAKE_DATABASE_TIMEOUT"))


def handshake_threads() -> int:
    return int(get("REALTIME_HANDSHAKE_THREADS"))


def max_sockets_per_user() -> int | None:
    cap = get("REALTIME_MAX_SOCKETS_PER_USER")
    return None if cap is None else int(cap)


def presence() -> bool:
    return bool(get("REALTIME_PRESENCE"))


def presence_heartbeat() -> float:
    return float(get("REALTIME_PRESENCE_HEARTBEAT"))


def presence_timeout() -> float:
    return float(get("REALTIME_PRESENCE_TIMEOUT"))


def presence_window() -> float:
    return float(get("REALTIME_PRESENCE_WINDOW"))


def gc_freeze() -> bool:
    return bool(get("REALTIME_GC_FREEZE"))


def gc_thresholds() -> tuple[int, ...] | None:
    found = get("REALTIME_GC_THRESHOLDS")
    return None if found is None else tuple(int(n) for n in found)


def retention() -> datetime.timedelta:
    return durations.parse(get("REALTIME_RETENTION"))

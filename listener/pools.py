"""Django's connection pools, emptied when the database has dropped this process's sessions.

psycopg_pool checks a pooled connection before lending it, and from the second failed check
within one request on it sleeps 1 s, then 2 s, ... (its reconnect backoff) before taking the
next. After an outage (Postgres restarted, every backend terminated) each pooled session is
dead, so the first request or socket handshake after it waited for every one of them in turn:
about 3 s with the usual pool, for every page of the fleet that reconnects at once.

The listener hears of a lost session at once (its socket closes while it waits for NOTIFY),
so it empties the pools then, and again when it is connected anew (sessions the pool opened
while the listener was away may have been killed with its own attempts): the pool opens fresh
sessions in their place, and only a connection taken in the moment before the listener noticed
can still meet a dead session. A pool whose sessions were fine loses nothing but a few
reconnections.
"""

from __future__ import annotations

from django.db import connections


def drain() -> None:
    """Close the idle sessions of every pooled Django database and open new ones in their place.

    Sessions lent out at the time are replaced when they come back. Blocking: call it from a thread.
    """
    for alias in connections:
        if not connections.settings[alias].get("OPTIONS", {}).get("pool"):
            continue
        pool = getattr(connections[alias], "pool", None)
        if pool is not None:
            pool.drain()

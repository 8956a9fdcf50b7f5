"""A session row read by one statement built once per session model, not by a queryset per read.

Every socket's handshake reads its session twice (the data, to find the user; the expiry, to
close the socket when it ends), all on Channels' single database thread, where building a
queryset and compiling it to SQL cost more than the round trip itself. The statements here are
the ones the ORM would send, written once per model from its meta: same table, same columns,
same filter on ``expire_date``.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db import connections, router

from listener import statements

_built: dict[type[Any], tuple[str, str, str]] = {}


def _statements(model: type[Any]) -> tuple[str, str, str]:
    found = _built.get(model)
    if found is None:
        found = _built[model] = _build(model)
    return found


def _build(model: type[Any]) -> tuple[str, str, str]:
    meta = model._meta
    quote = connections[router.db_for_read(model)].ops.quote_name
    table = quote(meta.db_table)
    key = quote(meta.get_field("session_key").column)
    data = quote(meta.get_field("session_data").column)
    expires = quote(meta.get_field("expire_date").column)
    load = "SELECT %s, %s FROM %s WHERE %s = %%s AND %s > %%s" % (data, expires, table, key, expires)
    expiry = "SELECT %s FROM %s WHERE %s = %%s" % (expires, table, key)
    many = "SELECT %s, %s, %s FROM %s WHERE %s = ANY(%%s) AND %s > %%s" % (
        key,
        data,
        expires,
        table,
        key,
        expires,
    )
    return load, expiry, many


def live(model: type[Any], session_key: str, now: datetime.datetime) -> Any | None:
    """The unexpired session row of ``session_key`` as a ``model`` instance, or None."""
    with statements.cursor(connections[router.db_for_read(model)]) as cur:
        cur.execute(_statements(model)[0], [session_key, now])
        row = cur.fetchone()
    if row is None:
        return None
    return model(session_key=session_key, session_data=row[0], expire_date=row[1])


def live_many(model: type[Any], session_keys: list[str], now: datetime.datetime) -> dict[str, Any]:
    """The unexpired rows of ``session_keys`` as ``model`` instances, by key (a key without one
    is left out): the sessions of a batch of handshakes, in one statement."""
    with statements.cursor(connections[router.db_for_read(model)]) as cur:
        cur.execute(_statements(model)[2], [session_keys, now])
        rows = cur.fetchall()
    return {key: model(session_key=key, session_data=data, expire_date=end) for key, data, end in rows}


def expiry(model: type[Any], session_key: str) -> datetime.datetime | None:
    """The ``expire_date`` of ``session_key``'s row, expired or not; None when there is none."""
    with statements.cursor(connections[router.db_for_read(model)]) as cur:
        cur.execute(_statements(model)[1], [session_key])
        row = cur.fetchone()
    found: datetime.datetime | None = None if row is None else row[0]
    return found

"""A socket's user read by one statement built once per user model, when nothing customizes the read.

Channels' ``get_user`` asks the session's backend, and Django's ``ModelBackend.get_user`` builds
and compiles a ``_default_manager.get(pk=...)`` queryset each time: on Channels' single database
thread, where every handshake of the process queues, that is most of a handshake's cost. When
the backend is ``ModelBackend``'s ``get_user`` unchanged and the user model's default manager
returns a plain queryset over its own table, this sends the same SELECT, built once, and builds
the instance as the ORM does (``from_db``, the columns' converters). Anything else (another
backend, a manager that filters, multi-table inheritance) goes through the backend as before.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections, models, router
from django.db.models import manager

from listener import statements


@dataclasses.dataclass(frozen=True)
class _Statement:
    sql: str
    # The same for many keys at once (``= ANY(%s)``).
    many: str
    alias: str
    attnames: list[str]
    # Per column: the converters the ORM would apply to its value, with their expression.
    converters: list[tuple[Any, list[Any]]]


def get(backend: Any, user_id: Any, found: dict[Any, Any] | None = None) -> Any:
    """What ``backend.get_user(user_id)`` returns: the active user, or None. ``found``: what
    `get_many` read for a batch of handshakes, looked up instead of a statement when it has it."""
    statement = _plain(backend)
    if statement is None:
        return backend.get_user(user_id)
    model = get_user_model()
    connection = connections[statement.alias]
    try:
        key = _key(model, user_id, connection)
    except Exception:
        return backend.get_user(user_id)  # the ORM's own error for a malformed key
    if found is not None and key in found:
        # Its own instance, as a read of its own gives it: two tabs of one user may share a batch.
        return copy.copy(found[key])
    with statements.cursor(connection) as cur:
        cur.execute(statement.sql, [key])
        row = cur.fetchone()
    if row is None:
        return None
    user = _built(statement, row)
    return user if backend.user_can_authenticate(user) else None


def get_many(backend: Any, user_ids: list[Any]) -> dict[Any, Any]:
    """`get` of each of ``user_ids`` in one statement, by the key `get` looks up (None: no
    active user); empty where `get` asks the backend itself."""
    statement = _plain(backend)
    if statement is None:
        return {}
    model = get_user_model()
    connection = connections[statement.alias]
    keys = []
    for user_id in user_ids:
        try:
            keys.append(_key(model, user_id, connection))
        except Exception:
            continue  # `get` raises the ORM's own error for it
    if not keys:
        return {}
    with statements.cursor(connection) as cur:
        cur.execute(statement.many, [keys])
        rows = cur.fetchall()
    found: dict[Any, Any] = dict.fromkeys(keys)
    for row in rows:
        user = _built(statement, row)
        found[_key(model, user.pk, connection)] = user if backend.user_can_authenticate(user) else None
    return found


def _plain(backend: Any) -> _Statement | None:
    """The statement for ``backend``'s users, when it reads them as ``ModelBackend`` does."""
    # Imported here: it imports Django's auth models, and `listener` imports before the app
    # registry is ready.
    from django.contrib.auth import backends

    if type(backend).get_user is not backends.ModelBackend.get_user:
        return None
    return _statement(get_user_model())


def _key(model: type[models.Model], user_id: Any, connection: Any) -> Any:
    """``user_id`` as the query sends it, to the primary key's type as the ORM converts it."""
    pk = model._meta.pk
    assert pk is not None
    return pk.get_db_prep_value(pk.to_python(user_id), connection)


def _built(statement: _Statement, row: tuple[Any, ...]) -> Any:
    """The user of ``row``, built as the ORM builds it (the columns' converters, ``from_db``)."""
    connection = connections[statement.alias]
    values = list(row)
    for i, (expression, converters) in enumerate(statement.converters):
        for convert in converters:
            values[i] = convert(values[i], expression, connection)
    return get_user_model().from_db(statement.alias, statement.attnames, values)


@functools.cache
def _statement(model: type[models.Model]) -> _Statement | None:
    meta = model._meta
    default = model._default_manager
    plain = (
        type(default).get_queryset is manager.BaseManager.get_queryset
        and getattr(default, "_queryset_class", None) is models.QuerySet
        and not meta.proxy
        and not meta.parents
    )
    if not plain:
        return None
    alias = router.db_for_read(model)
    connection = connections[alias]
    quote = connection.ops.quote_name
    fields = list(meta.concrete_fields)
    converters = []
    for field in fields:
        column = field.get_col(meta.db_table)
        found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        converters.append((column, found))
    select = "SELECT %s FROM %s WHERE %s" % (
        ", ".join(quote(str(field.column)) for field in fields),
        quote(meta.db_table),
        quote(str(meta.pk.column)),
    )
    attnames = [field.attname for field in fields]
    return _Statement(select + " = %s", select + " = ANY(%s)", alias, attnames, converters)

"""Model field for Postgres' 64-bit transaction ids."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    _Field = models.Field[int | str | None, int | None]
else:
    # Django's Field is generic only to type checkers; the library needs no runtime patch.
    _Field = models.Field


class Xid8Field(_Field):
    """A ``xid8`` column, read as a Python int; it compares against snapshots in SQL."""

    description = "Postgres full transaction id (xid8)"

    def db_type(self, connection: Any) -> str:
        return "xid8"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> int | None:
        return None if value is None else int(value)

    def to_python(self, value: Any) -> int | None:
        return None if value is None else int(value)

    def get_prep_value(self, value: Any) -> str | None:
        # xid8 has no cast from bigint; its text form is accepted everywhere.
        return None if value is None else str(value)


def current_xact_id() -> models.Func:
    """``pg_current_xact_id()``: as a ``db_default``, the xid8 of the transaction that inserts a row.

    A subscriber's access grant stamped this way tells a replay since when it has had access
    (``RealtimeConsumer.access_since``).
    """
    return models.Func(function="pg_current_xact_id", output_field=Xid8Field())

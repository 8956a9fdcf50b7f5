"""Model field for Postgres' 64-bit transaction ids."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    _Field = models.Field[int | str | None, int | None]
else:
    # Django's Field is not subscriptable at run time (django-stubs only types it so).
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

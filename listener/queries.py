"""The named queries of ``listener/sql/queries.sql``, loaded once."""

from __future__ import annotations

import functools
import re

from listener import migration_sql

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@functools.cache
def _all() -> dict[str, str]:
    text = migration_sql.read("queries.sql")
    parts = _NAME.split(text)[1:]
    return {name: body.strip() for name, body in zip(parts[::2], parts[1::2], strict=True)}


def get(name: str) -> str:
    """The SQL of query ``name``; a typo fails loudly at first use."""
    return _all()[name]

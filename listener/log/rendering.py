"""Cursors for rendered pages: the data a page shows and its cursor come from one snapshot."""

from __future__ import annotations

import collections.abc
import contextlib

from django.db import connection, transaction

from listener import queries
from listener.log import cursors


@contextlib.contextmanager
def consistent_read() -> collections.abc.Iterator[str]:
    """A REPEATABLE READ transaction; yields the cursor token of its snapshot.

    Every query inside the block sees exactly the commits the cursor names, so a page that
    connects with it gets every later event once, and nothing it already shows. Evaluate the
    page's querysets inside the block (``list(...)``); lazy ones would read outside it.
    """
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            # The first query takes the transaction's snapshot; this one reads it.
            cur.execute(queries.get("current_snapshot"))
            (text,) = cur.fetchone()
        yield cursors.Cursor(cursors.Snapshot.parse(text)).encode()

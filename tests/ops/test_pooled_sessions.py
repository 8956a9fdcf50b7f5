"""A pooled database session gets the library's session defaults once, and keeps them.

Real servers take connections from Django's pool (project/settings.py); every request's connection
fires `connection_created` on a session the pool hands out again. The defaults (listener/apps.py)
are session-wide, so the first checkout sets them and later checkouts of the same session find them
in place without another round trip.
"""

from __future__ import annotations

import collections.abc
import copy

import pytest
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import ConnectionHandler

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pooled() -> collections.abc.Iterator[BaseDatabaseWrapper]:
    """A wrapper on the test database whose pool holds a single session."""
    found = copy.deepcopy(connections["default"].settings_dict)
    found.setdefault("OPTIONS", {})["pool"] = {"min_size": 1, "max_size": 1}
    wrapper = ConnectionHandler({"default": found})["default"]
    try:
        yield wrapper
    finally:
        wrapper.close()
        wrapper.close_pool()  # type: ignore[attr-defined]


def _show(wrapper: BaseDatabaseWrapper, name: str) -> str:
    with wrapper.cursor() as cur:
        cur.execute("SELECT current_setting(%s, true)", [name])
        return str(cur.fetchone()[0])


def test_the_first_checkout_sets_the_defaults_and_later_ones_keep_the_session(
    pooled: BaseDatabaseWrapper,
) -> None:
    pooled.ensure_connection()
    first = pooled.connection
    assert _show(pooled, "pgtrigger.ignore") == "{}"
    assert _show(pooled, "realtime.notify") == "off"
    with pooled.cursor() as cur:
        cur.execute("SELECT set_config('realtime.notify', 'marked', false)")
    pooled.close()  # back to the pool

    pooled.ensure_connection()
    assert pooled.connection is first
    # Set once per session: a later checkout did not run the defaults again over what the
    # session holds.
    assert _show(pooled, "realtime.notify") == "marked"
    assert _show(pooled, "pgtrigger.ignore") == "{}"

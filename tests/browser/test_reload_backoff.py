"""A page the server keeps telling to resync reloads with growing delays, and forgets them once healthy."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.db import connection

from chat import models
from tests.browser.conftest import live, logged_in
from tests.conftest import sync

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every page load appends its time to this list in sessionStorage (the tab's own memory).
RECORD_LOADS = """
const loads = JSON.parse(sessionStorage.getItem("test.loads") || "[]");
loads.push(Date.now());
sessionStorage.setItem("test.loads", JSON.stringify(loads));
"""


def set_legacy_horizon(xid: int) -> None:
    """A global prune horizon far above every cursor: each resume is answered with 4410."""
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO listener_retention (id, pruned_below_xid, pruned_at)"
            " VALUES (1, %s::text::xid8, now())"
            " ON CONFLICT (id) DO UPDATE SET pruned_below_xid = excluded.pruned_below_xid",
            [xid],
        )


async def test_resync_reloads_back_off_and_reset_after_a_healthy_socket(
    people: Any, room: models.ChatRoom, server: Any, browser: Any
) -> None:
    page = await logged_in(browser, server, "olivia")
    # The home page's socket must be open before the horizon moves: a socket still resuming would be
    # refused too, and its reload would count in this tab's memory before the room page loads.
    await live(page)
    await page.add_init_script(RECORD_LOADS)
    await sync(set_legacy_horizon)(2**40)
    await page.goto("/rooms/%d/" % room.id)
    # Load 1, then reloads after 0, 1 s and 2 s: four loads; the next waits 4 s.
    await page.wait_for_function(
        "JSON.parse(sessionStorage.getItem('test.loads') || '[]').length >= 4", timeout=20_000
    )
    # Both read in one evaluation: on a slow machine a further reload may come between two reads.
    loads, reloads = await page.evaluate(
        "[JSON.parse(sessionStorage.getItem('test.loads')),"
        " Number(sessionStorage.getItem('listener.reloads'))]"
    )
    gaps = [later - earlier for earlier, later in itertools.pairwise(loads)]
    # setTimeout never fires early: each gap is at least its delay (0, 1, 2, 4 s, ...).
    delays = [0] + [min(60_000, 1000 * 2**n) for n in range(len(gaps) - 1)]
    assert all(gap >= delay for gap, delay in zip(gaps, delays, strict=True)), gaps
    # Each load counts one reload once its socket is refused, and not before it is.
    assert reloads in (len(loads) - 1, len(loads)), (reloads, loads)

    await sync(set_legacy_horizon)(0)
    # The next reload connects and stays open: the backoff is forgotten after 5 s.
    await page.wait_for_function("sessionStorage.getItem('listener.reloads') === null", timeout=20_000)
    await live(page)

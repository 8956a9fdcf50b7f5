"""The cursor arithmetic against a brute-force model of "which events has this page seen"."""

from __future__ import annotations

import pytest
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from listener import exceptions
from listener.log import cursors


@st.composite
def histories(draw: st.DrawFn) -> tuple[cursors.Snapshot, cursors.Snapshot, list[tuple[int, int]]]:
    """Two snapshots base ⊆ now over xids 1..40, and the events of the transactions between them."""
    committed_at_base = draw(st.sets(st.integers(1, 40)))
    committed_later = draw(st.sets(st.integers(1, 40)).map(lambda s: s - committed_at_base))
    base = _snapshot(committed_at_base, draw(st.integers(1, 41)))
    visible_base = {x for x in range(1, 42) if base.sees(x) and x in committed_at_base | committed_later}
    committed_now = committed_at_base | committed_later
    now = _snapshot(committed_now, draw(st.integers(max(base.xmax, 1), 42)))
    # Keep base ⊆ now: everything base sees is committed and below now.xmax.
    visible_now = {x for x in committed_now if now.sees(x)}
    if not visible_base <= visible_now:
        now = _snapshot(committed_now, 42)
        visible_now = {x for x in committed_now if now.sees(x)}
    new = sorted(visible_now - visible_base)
    events = []
    next_id = 1
    for xid in new:
        for _ in range(draw(st.integers(1, 3))):
            events.append((xid, next_id))
            next_id += 1
    return base, now, events


def _snapshot(committed: set[int], xmax: int) -> cursors.Snapshot:
    xip = frozenset(x for x in range(1, xmax) if x not in committed)
    return cursors.Snapshot(min(xip) if xip else xmax, xmax, xip)


@settings(max_examples=300, deadline=None)
@given(histories())
def test_each_frame_cursor_sees_exactly_the_events_up_to_it(history):
    base, now, events = history
    start = cursors.Cursor(base)
    for position, (xid, event_id) in enumerate(events):
        cursor = start.after(now, xid, event_id)
        for other_position, (other_xid, other_id) in enumerate(events):
            assert cursor.seen(other_xid, other_id) == (other_position <= position)
        # A cursor resumed from mid-batch and advanced again stays exact.
        if position + 1 < len(events):
            nxt_xid, nxt_id = events[position + 1]
            again = cursor.after(now, nxt_xid, nxt_id)
            for other_position, (other_xid, other_id) in enumerate(events):
                assert again.seen(other_xid, other_id) == (other_position <= position + 1)


@override_settings(SECRET_KEY="cursor-test")
@settings(max_examples=100, deadline=None)
@given(histories())
def test_tokens_round_trip(history):
    base, now, events = history
    for xid, event_id in events[:3]:
        cursor = cursors.Cursor(base).after(now, xid, event_id)
        assert cursors.Cursor.decode(cursor.encode()) == cursor


@override_settings(SECRET_KEY="cursor-test")
@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_garbage_tokens_are_refused_cleanly(token):
    with pytest.raises(exceptions.InvalidCursor):
        cursors.Cursor.decode(token)


def test_token_is_url_safe_and_small():
    snapshot = cursors.Snapshot(1000, 1010, frozenset({1001, 1005}))
    token = cursors.Cursor(snapshot, {1005: 42}).encode()
    assert all(c.isalnum() or c in "-_~" for c in token)
    assert len(token) < 80

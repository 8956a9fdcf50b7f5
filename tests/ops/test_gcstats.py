"""The collector's pauses on /metrics: a regression in a broadcast's tail shows up with its cause."""

from __future__ import annotations

import asyncio
import gc
import re

import pytest
from django.test import AsyncClient

from listener.layer import process

pytestmark = pytest.mark.django_db(transaction=True)


def _sample(text: str, name: str, generation: int) -> float:
    found = re.search(r'^%s\{generation="%d"\} (\S+)$' % (name, generation), text, re.M)
    assert found is not None, "%s for generation %d missing from /metrics" % (name, generation)
    return float(found.group(1))


async def test_metrics_count_collections_and_their_pause() -> None:
    running = process.ensure_started()
    await asyncio.wait_for(running.ready.wait(), 10)
    before = (await AsyncClient().get("/metrics")).content.decode()
    gc.collect()
    gc.collect()
    response = await AsyncClient().get("/metrics")
    assert response.status_code == 200
    after = response.content.decode()
    collections = _sample(after, "realtime_gc_collections_total", 2)
    assert collections >= _sample(before, "realtime_gc_collections_total", 2) + 2
    assert _sample(after, "realtime_gc_pause_seconds_total", 2) > _sample(
        before, "realtime_gc_pause_seconds_total", 2
    )
    assert _sample(after, "realtime_gc_pause_max_seconds", 2) > 0

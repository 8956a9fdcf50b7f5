"""What the posting limit adds to a post: prints medians, asserts nothing about time.

``pytest -m bench -s tests/bench/test_throttle_cost.py``: 3 rounds of 200 posts through the
view (limit raised so none is refused), 200 bare ``limits.take`` calls, 200 bare inserts.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from chat import models
from chat.throttle import limits

pytestmark = [pytest.mark.bench, pytest.mark.django_db(transaction=True)]

ROUNDS, COUNT = 3, 200


def _median_ms(action: Callable[[int], object]) -> float:
    took = []
    for n in range(COUNT):
        start = time.perf_counter()
        action(n)
        took.append(time.perf_counter() - start)
    return statistics.median(took) * 1000


def test_posting_limit_cost(people: dict[str, User], room: models.ChatRoom, settings: object) -> None:
    settings.CHAT_THROTTLE_POSTS = 1_000_000  # type: ignore[attr-defined]
    client = Client()
    client.force_login(people["member"])
    url = "/rooms/%d/messages/" % room.id
    limit = limits.Limit("bench:take", 1_000_000, window=10)
    for round_ in range(ROUNDS):
        post = _median_ms(
            lambda n: client.post(url, {"message": "m%d" % n}, headers={"Accept": "application/json"})
        )
        take = _median_ms(lambda n: limits.take([limit]))
        insert = _median_ms(
            lambda n: models.ChatMessage.objects.create(room=room, sender=people["member"], message="i%d" % n)
        )
        print(
            "round %d: post view %.2f ms, limits.take %.2f ms, bare insert %.2f ms (medians of %d)"
            % (round_ + 1, post, take, insert, COUNT)
        )

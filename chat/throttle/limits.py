"""Sliding-window limits on attempts, counted in Postgres, the one store every server process shares.

A caller names what it counts (``Limit("login:user:olivia", 10)``), asks ``retry_after`` before
trying and ``record``s the attempts that count (failures, or requests that must stay rare). An
attempt refused by a limit is not recorded, so a key never holds more rows than its limit
allows, and rows older than the window are deleted whenever new ones are written.
"""

from __future__ import annotations

import dataclasses
import datetime
import math

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone

from chat.throttle import models

DEFAULTS = {
    # Seconds an attempt counts for.
    "CHAT_THROTTLE_WINDOW": 900,
    # Failed logins per username, and wrong join codes per user, within the window.
    "CHAT_THROTTLE_PER_USER": 10,
    # The same, per client address (several people may share one).
    "CHAT_THROTTLE_PER_ADDRESS": 30,
    # Join requests one user sends to one room (each denial invites another).
    "CHAT_THROTTLE_JOIN_REQUESTS_PER_ROOM": 3,
}


def setting(name: str) -> int:
    return int(getattr(settings, name, DEFAULTS[name]))


@dataclasses.dataclass(frozen=True)
class Limit:
    """At most ``allowed`` recorded attempts under ``key`` within the window."""

    key: str
    allowed: int


def _window() -> datetime.timedelta:
    return datetime.timedelta(seconds=setting("CHAT_THROTTLE_WINDOW"))


def retry_after(limits: list[Limit]) -> int | None:
    """Whole seconds until every limit has room for one more attempt; None if all have room now."""
    now = timezone.now()
    window = _window()
    wait = 0.0
    for limit in limits:
        recent = list(
            models.Attempt.objects.filter(key=limit.key, at__gt=now - window)
            .order_by("-at")
            .values_list("at", flat=True)[: limit.allowed]
        )
        if limit.allowed <= 0 or len(recent) >= limit.allowed:
            # Room for one more once the oldest of the last `allowed` attempts leaves the window.
            frees_at = recent[-1] + window if recent else now
            wait = max(wait, (frees_at - now).total_seconds(), 1.0)
    return math.ceil(wait) if wait else None


def record(limits: list[Limit]) -> None:
    """Count one attempt against each limit, and forget attempts that left the window."""
    now = timezone.now()
    models.Attempt.objects.bulk_create([models.Attempt(key=limit.key, at=now) for limit in limits])
    models.Attempt.objects.filter(at__lte=now - _window()).delete()


def message(what: str, wait: int) -> str:
    """What went wrong and when to retry, for the page."""
    if wait < 90:
        when = "%d seconds" % wait
    else:
        when = "%d minutes" % math.ceil(wait / 60)
    return "Too many %s. Try again in %s." % (what, when)


def refused(response: HttpResponse, wait: int) -> HttpResponse:
    """``response`` as a 429 that tells clients when to retry."""
    response.status_code = 429
    response["Retry-After"] = str(wait)
    return response

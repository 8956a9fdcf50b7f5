"""Sliding-window limits on attempts, counted in Postgres, the one store every server process shares.

A caller names what it counts (``Limit("login:addr:192.0.2.1", 30)``) and either ``take``s a slot
(the check and the count in one locked step, so concurrent requests cannot all slip through), or
asks ``retry_after`` and later ``record``s what counts. An attempt refused by a limit is not
counted, so a key never holds more rows than its limit allows, and expired rows are deleted
whenever new ones are written.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import math
import unicodedata

from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.utils import timezone

from chat.throttle import models

DEFAULTS = {
    # Seconds a failed login or a wrong join code counts for.
    "CHAT_THROTTLE_WINDOW": 900,
    # Failed logins per (username, address), and wrong join codes per user, within the window.
    "CHAT_THROTTLE_PER_USER": 10,
    # Failed logins (any username) and wrong join codes per client address (several people may share one).
    "CHAT_THROTTLE_PER_ADDRESS": 30,
    # Join requests one user sends to one room (each denial invites another).
    "CHAT_THROTTLE_JOIN_REQUESTS_PER_ROOM": 3,
    # Messages one user posts to one room within CHAT_THROTTLE_POST_WINDOW seconds.
    "CHAT_THROTTLE_POSTS": 20,
    "CHAT_THROTTLE_POST_WINDOW": 10,
    # Accounts created from one client address within CHAT_THROTTLE_SIGNUP_WINDOW seconds.
    "CHAT_THROTTLE_SIGNUPS": 5,
    "CHAT_THROTTLE_SIGNUP_WINDOW": 3600,
}

_MAX_KEY = 200  # Attempt.key's max_length


def setting(name: str) -> int:
    return int(getattr(settings, name, DEFAULTS[name]))


def username(raw: str) -> str:
    """A username as Django's auth compares it: stripped, NFKC-normalized, then case-folded.

    Django's login form strips and NFKC-normalizes what was typed, so ``victim`` typed in
    full-width letters logs in as ``victim``; a key built from the raw text would count its failures apart.
    """
    folded = unicodedata.normalize("NFKC", raw.strip()).casefold()
    # Case folding can leave text that NFKC changes again (it is not closed under casefold).
    return unicodedata.normalize("NFKC", folded)


@dataclasses.dataclass(frozen=True)
class Limit:
    """At most ``allowed`` attempts under ``key`` within ``window`` s (CHAT_THROTTLE_WINDOW if None)."""

    key: str
    allowed: int
    window: int | None = None

    @property
    def stored_key(self) -> str:
        # Keys carry user input (usernames, addresses): one too long for the column, or holding a
        # character Postgres text cannot store (NUL), is kept as its digest rather than failing.
        if len(self.key) <= _MAX_KEY and "\x00" not in self.key:
            return self.key
        return "sha256:%s" % hashlib.sha256(self.key.encode("utf-8", "surrogatepass")).hexdigest()

    @property
    def span(self) -> datetime.timedelta:
        seconds = self.window if self.window is not None else setting("CHAT_THROTTLE_WINDOW")
        return datetime.timedelta(seconds=seconds)


@dataclasses.dataclass(frozen=True)
class Taken:
    """What ``take`` did: ``wait`` seconds to retry after when refused, else the rows it counted."""

    wait: int | None
    ids: tuple[int, ...] = ()

    def give_back(self) -> None:
        """Uncount the attempt (a login that turned out right is not a failure)."""
        models.Attempt.objects.filter(pk__in=self.ids).delete()


def take(limits: list[Limit]) -> Taken:
    """Count one attempt against every limit, or against none if any is full (then say how long to wait)."""
    with connection.cursor() as cursor:
        cursor.callproc(
            "chat_throttle_take_v1",
            [
                [limit.stored_key for limit in limits],
                [limit.allowed for limit in limits],
                [limit.span for limit in limits],
            ],
        )
        wait, ids = cursor.fetchone()
    return Taken(wait=wait, ids=tuple(ids))


def retry_after(limits: list[Limit]) -> int | None:
    """Whole seconds until every limit has room for one more attempt; None if all have room now."""
    now = timezone.now()
    wait = 0.0
    for limit in limits:
        recent = list(
            models.Attempt.objects.filter(key=limit.stored_key, at__gt=now - limit.span)
            .order_by("-at")
            .values_list("at", flat=True)[: max(limit.allowed, 0)]
        )
        if limit.allowed <= 0 or len(recent) >= limit.allowed:
            # Room for one more once the oldest of the last `allowed` attempts leaves the window.
            frees_at = recent[-1] + limit.span if recent else now
            wait = max(wait, (frees_at - now).total_seconds(), 1.0)
    return math.ceil(wait) if wait else None


def record(limits: list[Limit]) -> None:
    """Count one attempt against each limit, and forget attempts that expired."""
    now = timezone.now()
    models.Attempt.objects.bulk_create(
        [models.Attempt(key=limit.stored_key, at=now, until=now + limit.span) for limit in limits]
    )
    models.Attempt.objects.filter(until__lte=now).delete()


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

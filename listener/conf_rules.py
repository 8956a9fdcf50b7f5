"""What a valid ``REALTIME_*`` value is, per setting: the rules the start-up system check applies.

Apart from ``conf`` so that the accessors stay a short list. A rule returns the end of a sentence
that starts with the setting's name ("must be a number of seconds above 0, not '5'"), or None.
Values are checked as settings.py wrote them, without coercion: ``"5"`` is not ``5``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from django.conf import settings

from listener import conf, durations

Rule = Callable[[Any], str | None]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _seconds(value: Any) -> str | None:
    return None if _number(value) and value > 0 else "must be a number of seconds above 0, not %r" % (value,)


def _seconds_or_zero(value: Any) -> str | None:
    return None if _number(value) and value >= 0 else "must be a number of seconds >= 0, not %r" % (value,)


def _count(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return None if ok else "must be a whole number above 0, not %r" % (value,)


def _count_or_zero(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return None if ok else "must be a whole number >= 0, not %r" % (value,)


def _optional(rule: Rule) -> Rule:
    def check(value: Any) -> str | None:
        problem = None if value is None else rule(value)
        return None if problem is None else problem.replace("must be", "must be None or", 1)

    return check


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be True or False, not %r" % (value,)


def _url(value: Any) -> str | None:
    ok = value is None or (isinstance(value, str) and value.strip() != "")
    return None if ok else "must be None or a connection string (postgresql://...), not %r" % (value,)


def _notify(value: Any) -> str | None:
    choices = [mode.value for mode in conf.Notify]
    return None if value in choices else "must be one of %s, not %r" % (", ".join(map(repr, choices)), value)


def _thresholds(value: Any) -> str | None:
    ok = value is None or (
        isinstance(value, tuple | list)
        and 1 <= len(value) <= 3
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value)
    )
    return None if ok else "must be None or 1 to 3 whole numbers >= 0 for gc.set_threshold, not %r" % (value,)


def _duration(value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be a duration like '7d' or '12h', not %r" % (value,)
    try:
        durations.parse(value)
    except ValueError as exc:
        return "must be a duration: %s" % exc
    return None


def _like_default(default: Any) -> Rule:
    """For a setting that has no rule of its own: a value of its default's type."""

    def check(value: Any) -> str | None:
        if default is None:
            return None
        if isinstance(default, bool):
            return _flag(value)
        kind = "number" if _number(default) else type(default).__name__
        ok = _number(value) if _number(default) else isinstance(value, type(default))
        return None if ok else "must be a %s like its default %r, not %r" % (kind, default, value)

    return check


RULES: dict[str, Rule] = {
    "REALTIME_LISTENER_DATABASE_URL": _url,
    "REALTIME_POLL_INTERVAL": _seconds,
    # 0: no batching, each change is written (and published) as soon as the writer runs.
    "REALTIME_PRESENCE_WINDOW": _seconds_or_zero,
    "REALTIME_NOTIFY": _notify,
    "REALTIME_QUIET_POLL_INTERVAL": _seconds,
    "REALTIME_WAKER_INTERVAL": _seconds,
    "REALTIME_WAKER_BUSY_INTERVAL": _seconds,
    "REALTIME_RECONNECT_BASE": _seconds,
    "REALTIME_RECONNECT_CAP": _seconds,
    "REALTIME_SOCKET_BACKLOG": _count,
    "REALTIME_REPLAY_PAGE": _count,
    "REALTIME_REPLAY_SLOTS": _count,
    "REALTIME_SLOW_GRACE": _seconds,
    "REALTIME_LISTENER_READY_TIMEOUT": _seconds,
    "REALTIME_HANDSHAKE_DATABASE_TIMEOUT": _seconds,
    "REALTIME_HANDSHAKE_THREADS": _count_or_zero,
    "REALTIME_MAX_SOCKETS_PER_USER": _optional(_count),
    "REALTIME_PRESENCE": _flag,
    "REALTIME_PRESENCE_HEARTBEAT": _seconds,
    "REALTIME_PRESENCE_TIMEOUT": _seconds,
    "REALTIME_GC_FREEZE": _flag,
    "REALTIME_GC_THRESHOLDS": _thresholds,
    "REALTIME_RETENTION": _duration,
}


def problems() -> list[tuple[str, str]]:
    """(setting, what is wrong with it) for every ``REALTIME_*`` setting that would misbehave."""
    found = []
    for name, default in conf.DEFAULTS.items():
        problem = RULES.get(name, _like_default(default))(conf.get(name))
        if problem is not None:
            found.append((name, "%s %s." % (name, problem)))
    if not found:
        # Pairs, once each is fine on its own.
        if conf.reconnect_cap() < conf.reconnect_base():
            cap = "REALTIME_RECONNECT_CAP must be at least REALTIME_RECONNECT_BASE."
            found.append(("REALTIME_RECONNECT_CAP", cap))
        if conf.presence_timeout() <= conf.presence_heartbeat():
            found.append(
                (
                    "REALTIME_PRESENCE_TIMEOUT",
                    "REALTIME_PRESENCE_TIMEOUT must be longer than REALTIME_PRESENCE_HEARTBEAT, or live "
                    "processes are taken for dead between two beats.",
                )
            )
    return found


def unknown() -> list[str]:
    """``REALTIME_*`` names in settings that the library does not read (a typo, or a removed setting)."""
    return sorted(
        name for name in dir(settings) if name.startswith("REALTIME_") and name not in conf.DEFAULTS
    )

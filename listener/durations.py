"""Durations as operators type them: ``90s``, ``15m``, ``12h``, ``7d``."""

from __future__ import annotations

import datetime
import re

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse(text: str) -> datetime.timedelta:
    match = _DURATION.match(text)
    if match is None:
        raise ValueError("%r is not a duration like 90s, 15m, 12h or 7d" % text)
    return datetime.timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})

"""The article's design, built minimally: events sent from ``save()`` with ``group_send``."""

from __future__ import annotations

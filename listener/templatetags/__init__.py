"""Template tags that put the library's browser client on a page (``{% load realtime %}``)."""

from __future__ import annotations

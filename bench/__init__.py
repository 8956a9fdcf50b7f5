"""The side-by-side benchmark against the article's design; ``python -m bench.run``."""

from __future__ import annotations

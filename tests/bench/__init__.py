"""The side-by-side benchmark against the article's design; ``python -m tests.bench.run``."""

from __future__ import annotations

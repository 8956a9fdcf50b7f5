from __future__ import annotations

from django.apps import AppConfig


class BaselineConfig(AppConfig):
    """The baseline of the benchmark: the article's Channels + channels-redis design."""

    name = "bench.baseline"
    label = "bench_baseline"
    default_auto_field = "django.db.models.BigAutoField"

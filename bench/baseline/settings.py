"""The project's settings with the article's channel layer: channels-redis on the machine's Redis."""

from __future__ import annotations

import os

from project.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "bench.baseline"]  # noqa: F405
ASGI_APPLICATION = "bench.baseline.asgi.application"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")],
            # A prefix per benchmark run, so groups left by earlier runs cost nothing.
            "prefix": os.environ.get("BENCH_REDIS_PREFIX", "bench"),
        },
    }
}

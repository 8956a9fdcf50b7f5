"""The project's settings with the listeners' safety poll set to ten minutes.

For server processes in tests where only a wake-up may deliver within the test's timeout: a
frame that arrives in seconds was woken, not polled.
"""

from __future__ import annotations

import os

from project.settings import *  # noqa: F403

REALTIME_POLL_INTERVAL = 600.0
if "REALTIME_WAKER_BUSY_INTERVAL" in os.environ:
    # Wake-ups as fast as the waker ticks, so a test can send many of them in a few seconds.
    REALTIME_WAKER_BUSY_INTERVAL = float(os.environ["REALTIME_WAKER_BUSY_INTERVAL"])

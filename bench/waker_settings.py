"""The project's settings with the waker's and the listeners' intervals taken from the environment.

For ``bench.waker_failover``: a fast waker sends thousands of wake-ups in seconds (what a
frozen holder's client would have been sent), and the safety poll stays at the default unless set.
"""

from __future__ import annotations

import os

from project.settings import *  # noqa: F403

for _name in ("REALTIME_WAKER_INTERVAL", "REALTIME_WAKER_BUSY_INTERVAL", "REALTIME_POLL_INTERVAL"):
    if _name in os.environ:
        globals()[_name] = float(os.environ[_name])

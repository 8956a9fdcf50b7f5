"""Prometheus metrics of this server process (served at ``/metrics``)."""

from __future__ import annotations

import prometheus_client

EVENTS_READ = prometheus_client.Counter("realtime_events_read", "Events read from the log by the listener")
FRAMES_SENT = prometheus_client.Counter("realtime_frames_sent", "Frames sent to sockets, live and replayed")
SOCKETS_OPENED = prometheus_client.Counter("realtime_sockets_opened", "Sockets accepted", ["topic_kind"])
SOCKETS_CLOSED = prometheus_client.Counter(
    "realtime_sockets_closed", "Sockets closed, by close code", ["topic_kind", "code"]
)
SLOW_CLOSES = prometheus_client.Counter("realtime_slow_consumer_closes", "Sockets closed as too slow (4008)")
LISTENER_RECONNECTS = prometheus_client.Counter(
    "realtime_listener_reconnects", "Times the listener lost its connection and reconnected"
)

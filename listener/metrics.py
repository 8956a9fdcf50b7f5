"""Prometheus metrics of this server process (served at ``/metrics``)."""

from __future__ import annotations

import prometheus_client

EVENTS_READ = prometheus_client.Counter("realtime_events_read", "Events read from the log by the listener")
FRAMES_SENT = prometheus_client.Counter("realtime_frames_sent", "Frames sent to sockets, live and replayed")
SOCKETS_OPENED = prometheus_client.Counter("realtime_sockets_opened", "Sockets accepted", ["topic_kind"])
SOCKETS_CLOSED = prometheus_client.Counter(
    "realtime_sockets_closed", "Sockets closed, by close code", ["topic_kind", "code"]
)
LIVE_RENDERS = prometheus_client.Counter(
    "realtime_live_renders", "Live region fragments rendered (once per event, stream and variant)"
)
SLOW_CLOSES = prometheus_client.Counter("realtime_slow_consumer_closes", "Sockets closed as too slow (4008)")
ACCESS_RECHECKS = prometheus_client.Counter(
    "realtime_access_rechecks", "Access re-checks after a declared grant changed, by outcome", ["outcome"]
)
LISTENER_RECONNECTS = prometheus_client.Counter(
    "realtime_listener_reconnects", "Times the listener lost its connection and reconnected"
)
DISPATCH_LAG = prometheus_client.Histogram(
    "realtime_dispatch_lag_seconds",
    "Per listener step, the oldest event's time from its writing transaction to dispatch",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
# Set when /metrics is scraped, from the listener and the channel layer of this process.
SOCKETS_OPEN = prometheus_client.Gauge("realtime_sockets_open", "Sockets open now", ["topic_kind"])
LISTENER_CONNECTED = prometheus_client.Gauge(
    "realtime_listener_connected", "1 while the listener holds its LISTEN connection"
)
BACKLOG_HIGH_WATER = prometheus_client.Gauge(
    "realtime_socket_backlog_high_water", "Most frames ever queued for one socket of this process"
)

_backlog_high_water = 0


def observe_backlog(frames: int) -> None:
    """Record a socket's queue length (cheap when it is not a new maximum)."""
    global _backlog_high_water
    if frames > _backlog_high_water:
        _backlog_high_water = frames
        BACKLOG_HIGH_WATER.set(frames)


def backlog_high_water() -> int:
    return _backlog_high_water

"""The Channels layer: groups fed by this process's listener, channels and groups across
processes through Postgres. ``listener.layer.PostgresChannelLayer`` is the path settings name."""

from __future__ import annotations

from listener.layer.channel_layer import PostgresChannelLayer

__all__ = ["PostgresChannelLayer"]

"""Operations: health and metrics endpoints, deployment checks and probes, start-up checks."""

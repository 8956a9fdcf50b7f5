"""Operations: health and metrics endpoints, deployment checks and probes, durations for commands."""

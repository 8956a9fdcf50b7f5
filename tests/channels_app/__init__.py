"""A plain Channels app (the tutorial's chat, a runworker job) run on the Postgres layer in tests."""

"""The event log: cursors, events, reading history, the LISTEN loop that follows the log, the waker."""

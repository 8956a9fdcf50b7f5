"""Sockets: the consumer base, its handshake, outbox, replay, revocation, expiry and presence."""

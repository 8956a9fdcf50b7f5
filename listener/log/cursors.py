"""Postgres snapshots and the opaque cursors built from them.

A cursor names exactly which events a page has seen. It is a Postgres snapshot
(``xmin:xmax:xip``) plus, for transactions whose events were only partly delivered, the id of
the last event delivered. Event ids alone cannot do this: ids are taken at insert, not at
commit, so a slow transaction commits a lower id after a higher one was already seen.
"""

from __future__ import annotations

import base64
import dataclasses

from django.core import signing

from listener import exceptions

_SALT = "listener.cursor"
_VERSION = 1
# A cursor names at most this many in-flight transactions; more is not a cursor we issued.
_MAX_XIP = 10_000


@dataclasses.dataclass(frozen=True, slots=True)
class Snapshot:
    """A transaction snapshot: which transaction ids had committed when it was taken."""

    xmin: int
    xmax: int
    xip: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        """Read Postgres' text form of ``pg_snapshot``: ``xmin:xmax:xip1,xip2``."""
        xmin, xmax, xip = text.split(":")
        return cls(int(xmin), int(xmax), frozenset(int(x) for x in xip.split(",") if x))

    def __str__(self) -> str:
        return "%d:%d:%s" % (self.xmin, self.xmax, ",".join(str(x) for x in sorted(self.xip)))

    def sees(self, xid: int) -> bool:
        """Whether a committed transaction ``xid`` is visible (Postgres' ``pg_visible_in_snapshot``)."""
        if xid < self.xmin:
            return True
        if xid >= self.xmax:
            return False
        return xid not in self.xip


@dataclasses.dataclass(frozen=True, slots=True)
class Cursor:
    """Everything a page has seen: a snapshot plus the delivered prefix of partly sent transactions."""

    snapshot: Snapshot
    # xid -> id of the last event of that transaction already delivered (xid is not in `snapshot`).
    partial: dict[int, int] = dataclasses.field(default_factory=dict)

    def seen(self, xid: int, event_id: int) -> bool:
        if self.snapshot.sees(xid):
            return True
        last = self.partial.get(xid)
        return last is not None and event_id <= last

    def after(self, now: Snapshot, xid: int, event_id: int) -> Cursor:
        """The cursor of a frame carrying event ``(xid, event_id)``.

        Called for the events visible in ``now`` and not seen by ``self``, in ``(xid, id)``
        order. Everything before this event in that order is seen; nothing after it is. So
        transactions below ``xid`` take their visibility from ``now``, those above it from
        ``self``, and ``xid`` itself is partly delivered up to ``event_id``.
        """
        base = self.snapshot
        xip = {x for x in now.xip if x < xid}
        xip.update(x for x in base.xip if x > xid)
        xip.add(xid)
        xmax = max(base.xmax, xid + 1)
        partial = {x: last for x, last in self.partial.items() if x > xid}
        partial[xid] = event_id
        return Cursor(Snapshot(min(xip), xmax, frozenset(xip)), partial)

    def encode(self) -> str:
        """An opaque, URL-safe, signed token."""
        snap = self.snapshot
        numbers = [_VERSION, snap.xmin, snap.xmax - snap.xmin, len(snap.xip)]
        previous = snap.xmin
        for xid in sorted(snap.xip):
            numbers.append(xid - previous)
            previous = xid
        for xid in sorted(self.partial):
            numbers.extend((xid - snap.xmin, self.partial[xid]))
        body = base64.urlsafe_b64encode(_varints(numbers)).rstrip(b"=").decode()
        return _signer().sign(body)

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """Parse a token from a page; raise `InvalidCursor` for anything we did not issue."""
        if len(token) > 200_000:
            raise exceptions.InvalidCursor("cursor is too long")
        try:
            body = _signer().unsign(token)
        except signing.BadSignature as exc:
            raise exceptions.InvalidCursor("cursor signature does not match") from exc
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            numbers = _read_varints(raw)
            version, xmin, span, count = numbers[:4]
            if version != _VERSION or count > _MAX_XIP:
                raise ValueError("unsupported cursor")
            xip: list[int] = []
            previous = xmin
            for delta in numbers[4 : 4 + count]:
                previous += delta
                xip.append(previous)
            rest = numbers[4 + count :]
            if len(rest) % 2:
                raise ValueError("truncated cursor")
            partial = {xmin + rest[i]: rest[i + 1] for i in range(0, len(rest), 2)}
            snapshot = Snapshot(xmin, xmin + span, frozenset(xip))
            if any(not (xmin <= x < snapshot.xmax) for x in xip) or not set(partial) <= snapshot.xip:
                raise ValueError("inconsistent cursor")
        except (ValueError, IndexError) as exc:
            raise exceptions.InvalidCursor("cursor is malformed") from exc
        return cls(snapshot, partial)


def _signer() -> signing.Signer:
    return signing.Signer(salt=_SALT, sep="~")


def _varints(numbers: list[int]) -> bytes:
    out = bytearray()
    for n in numbers:
        if n < 0:
            raise ValueError("cursor numbers are never negative")
        while True:
            byte = n & 0x7F
            n >>= 7
            if n:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                break
    return bytes(out)


def _read_varints(raw: bytes) -> list[int]:
    numbers: list[int] = []
    n = shift = 0
    for byte in raw:
        n |= (byte & 0x7F) << shift
        shift += 7
        if shift > 70:
            raise ValueError("varint too long")
        if not byte & 0x80:
            numbers.append(n)
            n = shift = 0
    if shift:
        raise ValueError("truncated varint")
    return numbers

"""Trim the event log in short batches; pages that may have missed a pruned event resync.

Why batches and not a log partitioned by time: dropping a partition is the cheapest delete, but
the log's primary key, its (xid, id) index and the topic index table would all have to carry the
partition key (Django models the log with a single ``id`` key), every replay would touch every
partition's indexes, and a partition can only go once all of it is old. Batches keep the schema,
cost one index-ordered read and one delete of ``--batch-size`` rows per short transaction, hold
no lock that delivery waits on, and let autovacuum (tuned on both tables by migration 0006) and
the closing VACUUM hand the freed space to new events. docs/benchmarks_retention.md has the
numbers; bench/prune.py measures them.

Each batch also raises the pruned topics' horizons (``listener_retention_topic``) in the same
transaction, which listener.retention reads to decide which cursors must resync.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from listener import conf, durations, queries


class Command(BaseCommand):
    help = (
        "Delete events older than a duration, in short transactions. A page whose cursor may miss "
        "a deleted event of its topic gets `resync_required` (close code 4410), never a silent gap."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--older-than",
            default=None,
            help="age of the events to delete, e.g. 90s, 15m, 12h, 7d (default: REALTIME_RETENTION, %s)"
            % conf.DEFAULTS["REALTIME_RETENTION"],
        )
        parser.add_argument(
            "--batch-size", type=int, default=5000, help="events per transaction (default 5000)"
        )
        parser.add_argument(
            "--pause",
            type=float,
            default=0.1,
            # Measured (docs/benchmarks_retention.md): p99 commit-to-dispatch 1.8x of idle and
            # a 19 ms worst case with 0.1, against 1.4-2.1x and up to 104 ms with no pause.
            help="seconds to wait between batches, to leave live delivery room (default 0.1)",
        )
        parser.add_argument(
            "--no-vacuum", action="store_true", help="skip the VACUUM of the log after pruning"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            age = durations.parse(options["older_than"]) if options["older_than"] else conf.retention()
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1, not %d" % options["batch_size"])
        before = timezone.now() - age
        if connection.in_atomic_block:
            raise CommandError("prune_events commits each batch: call it outside a transaction")
        with connection.cursor() as cur:
            cur.execute(queries.get("prune_lock"))
            row = cur.fetchone()
            if not (row and row[0]):
                raise CommandError("another prune_events is running on this database")
            try:
                pruned = self._prune(cur, before, options["batch_size"], options["pause"])
            finally:
                cur.execute(queries.get("prune_unlock"))
            if pruned and not options["no_vacuum"]:
                cur.execute(queries.get("prune_vacuum"))
        self.stdout.write("pruned %d events created before %s" % (pruned, before.isoformat()))

    def _prune(self, cur: Any, before: Any, limit: int, pause: float) -> int:
        """Batches in (xid, id) order until the first event that is young enough to keep."""
        after_xid, after_id, total = "0", 0, 0
        while True:
            # Autocommit: each batch is its own transaction.
            cur.execute(
                queries.get("prune_batch"),
                {"before": before, "after_xid": after_xid, "after_id": after_id, "limit": limit},
            )
            pruned, scanned, reached, last_xid, last_id = cur.fetchone()
            total += int(pruned)
            if reached or scanned < limit:
                return total
            after_xid, after_id = last_xid, last_id
            if pause:
                time.sleep(pause)

"""Trim the event log; pages holding older cursors are told to resync instead of resuming."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from listener import conf, durations, queries


class Command(BaseCommand):
    help = (
        "Delete events older than a duration. A page whose cursor may miss a deleted event gets "
        "`resync_required` (close code 4410) and reloads, never a silent gap."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--older-than",
            default=None,
            help="age of the events to delete, e.g. 90s, 15m, 12h, 7d (default: REALTIME_RETENTION, %s)"
            % conf.DEFAULTS["REALTIME_RETENTION"],
        )

    def handle(self, *args: Any, **options: Any) -> None:
        text = options["older_than"] or conf.get("REALTIME_RETENTION")
        try:
            age = durations.parse(text)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        before = timezone.now() - age
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(queries.get("prune_events"), {"before": before})
            row = cur.fetchone()
        pruned = row[0] if row else 0
        self.stdout.write("pruned %d events created before %s" % (pruned, before.isoformat()))

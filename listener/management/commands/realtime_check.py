"""``manage.py realtime_check``: are triggers, functions and LISTEN/NOTIFY working here?"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from listener.ops import diagnostics, probes

MARKS = {
    diagnostics.Level.OK: "ok     ",
    diagnostics.Level.INFO: "info   ",
    diagnostics.Level.WARNING: "WARNING",
    diagnostics.Level.ERROR: "ERROR  ",
}


class Command(BaseCommand):
    """Checks the real-time plumbing of this deployment; exits non-zero on any error."""

    help = (
        "Verify that the event triggers and functions are installed and enabled, that a write "
        "(rolled back) appends its event to the log, that LISTEN/NOTIFY works on the listener's "
        "connection, and report the event log and notification queue."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--timeout", type=float, default=5.0, help="seconds to wait for the NOTIFY round trip"
        )
        parser.add_argument("--strict", action="store_true", help="treat warnings as errors too")
        parser.add_argument("--quiet", action="store_true", help="print only warnings and errors")

    def handle(self, *args: Any, **options: Any) -> None:
        # The catalog can look right while nothing is captured: also write, rolled back, and look.
        findings = [*diagnostics.run_all(options["timeout"]), *probes.run_all()]
        for finding in findings:
            if options["quiet"] and finding.level in {diagnostics.Level.OK, diagnostics.Level.INFO}:
                continue
            line = "%s %s" % (MARKS[finding.level], finding.message)
            if finding.level is diagnostics.Level.ERROR:
                self.stdout.write(self.style.ERROR(line))
            elif finding.level is diagnostics.Level.WARNING:
                self.stdout.write(self.style.WARNING(line))
            else:
                self.stdout.write(line)
        failing = {diagnostics.Level.ERROR} | ({diagnostics.Level.WARNING} if options["strict"] else set())
        problems = [f for f in findings if f.level in failing]
        if problems:
            raise CommandError("%d problem(s) found" % len(problems))
        self.stdout.write(self.style.SUCCESS("real-time plumbing OK"))

"""``manage.py realtime_check``: are triggers, functions and LISTEN/NOTIFY working here?"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from listener import checks, probes

MARKS = {
    checks.Level.OK: "ok     ",
    checks.Level.INFO: "info   ",
    checks.Level.WARNING: "WARNING",
    checks.Level.ERROR: "ERROR  ",
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
        findings = [*checks.run_all(options["timeout"]), *probes.run_all()]
        for finding in findings:
            if options["quiet"] and finding.level in {checks.Level.OK, checks.Level.INFO}:
                continue
            line = "%s %s" % (MARKS[finding.level], finding.message)
            if finding.level is checks.Level.ERROR:
                self.stdout.write(self.style.ERROR(line))
            elif finding.level is checks.Level.WARNING:
                self.stdout.write(self.style.WARNING(line))
            else:
                self.stdout.write(line)
        failing = {checks.Level.ERROR} | ({checks.Level.WARNING} if options["strict"] else set())
        problems = [f for f in findings if f.level in failing]
        if problems:
            raise CommandError("%d problem(s) found" % len(problems))
        self.stdout.write(self.style.SUCCESS("real-time plumbing OK"))

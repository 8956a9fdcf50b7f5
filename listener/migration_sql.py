"""Migrations install the files of ``sql/`` by name."""

from __future__ import annotations

import pathlib
import re

from django.db import migrations

SQL_DIR = pathlib.Path(__file__).resolve().parent.parent / "sql"


def read(name: str) -> str:
    return (SQL_DIR / name).read_text()


def functions() -> dict[str, str]:
    """The plpgsql functions the project ships, by name, with the file that defines each."""
    found = {}
    for path in sorted(SQL_DIR.glob("realtime_*_v*.sql")):
        match = re.search(r"CREATE OR REPLACE FUNCTION (\w+)\(", path.read_text())
        if match:
            found[match.group(1)] = path.name
    return found


class RunSQLFile(migrations.RunSQL):
    """Run one file of ``sql/``; shipped files never change, new versions get new files."""

    def __init__(self, name: str, reverse_sql: str | None = None) -> None:
        self.name = name
        super().__init__(read(name), reverse_sql=reverse_sql or migrations.RunSQL.noop)

    def deconstruct(self) -> tuple[str, list[object], dict[str, object]]:
        return (self.__class__.__qualname__, [self.name], {})

    def describe(self) -> str:
        return "Install sql/%s" % self.name

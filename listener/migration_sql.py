"""Migrations install the files of ``sql/`` by name."""

from __future__ import annotations

import pathlib

from django.db import migrations

SQL_DIR = pathlib.Path(__file__).resolve().parent.parent / "sql"


def read(name: str) -> str:
    return (SQL_DIR / name).read_text()


class RunSQLFile(migrations.RunSQL):
    """Run one file of ``sql/``; shipped files never change, new versions get new files."""

    def __init__(self, name: str, reverse_sql: str | None = None) -> None:
        self.name = name
        super().__init__(read(name), reverse_sql=reverse_sql or migrations.RunSQL.noop)

    def deconstruct(self) -> tuple[str, list[object], dict[str, object]]:
        return (self.__class__.__qualname__, [self.name], {})

    def describe(self) -> str:
        return "Install sql/%s" % self.name

"""Migrations install SQL files by name: the library's from its package, a project's from its folder."""

from __future__ import annotations

import importlib.resources
import pathlib
import re

from django.conf import settings
from django.db import migrations

_FUNCTION = re.compile(r"CREATE OR REPLACE (?:FUNCTION|PROCEDURE) (\w+)\(")


def _library_dir() -> importlib.resources.abc.Traversable:
    return importlib.resources.files("listener") / "sql"


def _project_dir(directory: str) -> pathlib.Path:
    return pathlib.Path(settings.BASE_DIR) / directory


def read(name: str, directory: str | None = None) -> str:
    """The text of ``name``: from the library's ``sql/`` or, given ``directory``, the project's."""
    if directory is None:
        return (_library_dir() / name).read_text()
    return (_project_dir(directory) / name).read_text()


def functions() -> dict[str, str]:
    """The library's plpgsql functions and procedures, by name, with the file that defines each."""
    found = {}
    for path in sorted(_library_dir().iterdir(), key=lambda p: p.name):
        if path.name.startswith("realtime_") and path.name.endswith(".sql"):
            match = _FUNCTION.search(path.read_text())
            if match:
                found[match.group(1)] = path.name
    return found


def project_functions() -> dict[str, str]:
    """The functions that migrations install from project folders (``RunSQLFile(..., directory)``)."""
    from django.db.migrations import loader

    found = {}
    for migration in loader.MigrationLoader(None, ignore_no_migrations=True).disk_migrations.values():
        for operation in migration.operations:
            if isinstance(operation, RunSQLFile) and operation.directory is not None:
                match = _FUNCTION.search(read(operation.name, operation.directory))
                if match:
                    found[match.group(1)] = "%s/%s" % (operation.directory, operation.name)
    return found


class RunSQLFile(migrations.RunSQL):
    """Run one SQL file; shipped files never change, new versions get new files.

    Without ``directory`` the file is the library's own (inside the installed package); with it,
    a folder of the project relative to ``BASE_DIR`` (the app's ``sql/``).
    """

    def __init__(self, name: str, directory: str | None = None, reverse_sql: str | None = None) -> None:
        self.name = name
        self.directory = directory
        super().__init__(read(name, directory), reverse_sql=reverse_sql or migrations.RunSQL.noop)

    def deconstruct(self) -> tuple[str, list[object], dict[str, object]]:
        kwargs: dict[str, object] = {} if self.directory is None else {"directory": self.directory}
        return (self.__class__.__qualname__, [self.name], kwargs)

    def describe(self) -> str:
        return "Install %s/%s" % (self.directory or "listener/sql", self.name)

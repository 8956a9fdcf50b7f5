"""Migrations match the models, and every shipped SQL function is installed as written."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection

from listener import migration_sql


@pytest.mark.django_db
def test_models_and_migrations_agree():
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "path"), sorted(migration_sql.functions().items()))
def test_sql_functions_are_installed_as_shipped(name, path):
    body = migration_sql.read(path).split("$$")[1]
    with connection.cursor() as cur:
        cur.execute("SELECT prosrc FROM pg_proc WHERE proname = %s", [name])
        rows = cur.fetchall()
    assert rows, "%s is not installed: add a migration that runs RunSQLFile(%r)" % (name, path)
    assert rows[0][0] == body

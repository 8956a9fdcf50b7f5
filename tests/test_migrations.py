"""Migrations match the models, and every shipped SQL function is installed as written."""

from __future__ import annotations

import io
import re

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
@pytest.mark.parametrize("path", sorted(p.name for p in migration_sql.SQL_DIR.glob("realtime_*_v*.sql")))
def test_sql_functions_are_installed_as_shipped(path):
    text = migration_sql.read(path)
    name = re.search(r"CREATE OR REPLACE FUNCTION (\w+)\(", text).group(1)
    body = text.split("$$")[1]
    with connection.cursor() as cur:
        cur.execute("SELECT prosrc FROM pg_proc WHERE proname = %s", [name])
        rows = cur.fetchall()
    assert rows, "%s is not installed: add a migration that runs RunSQLFile(%r)" % (name, path)
    assert rows[0][0] == body

from __future__ import annotations

from django.db import migrations

import listener.migration_sql


class Migration(migrations.Migration):
    dependencies = [("throttle", "0002_attempt_until")]

    operations = [
        listener.migration_sql.RunSQLFile("chat_throttle_take_v1.sql", directory="sql"),
    ]

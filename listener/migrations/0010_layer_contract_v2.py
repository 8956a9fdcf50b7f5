from django.db import migrations

import listener.migration_sql


class Migration(migrations.Migration):

    dependencies = [
        ("listener", "0009_realtime_waker_v1"),
    ]

    operations = [
        listener.migration_sql.RunSQLFile(
            "realtime_channel_send_v2.sql",
            reverse_sql="DROP FUNCTION IF EXISTS realtime_channel_send_v2(text, text, text, float8, integer);",
        ),
        listener.migration_sql.RunSQLFile(
            "realtime_group_send_v2.sql",
            reverse_sql=(
                "DROP FUNCTION IF EXISTS"
                " realtime_group_send_v2(bigint, text, text, jsonb, text, float8, integer);"
            ),
        ),
    ]

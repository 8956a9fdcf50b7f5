from django.db import migrations

import listener.migration_sql


class Migration(migrations.Migration):

    dependencies = [
        ("listener", "0001_initial"),
    ]

    operations = [
        listener.migration_sql.RunSQLFile("realtime_append_event_v2.sql"),
    ]

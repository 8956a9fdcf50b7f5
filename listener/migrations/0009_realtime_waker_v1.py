import listener.migration_sql
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('listener', '0008_event_first_topic_index'),
    ]

    operations = [
        listener.migration_sql.RunSQLFile(
            'realtime_waker_v1.sql',
            reverse_sql='DROP PROCEDURE IF EXISTS realtime_waker_v1(text, float8, float8);',
        ),
    ]

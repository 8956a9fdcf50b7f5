import listener.migration_sql
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('listener', '0010_layer_contract_v2'),
    ]

    operations = [
        listener.migration_sql.RunSQLFile(
            'realtime_waker_v2.sql',
            reverse_sql='DROP PROCEDURE IF EXISTS realtime_waker_v2(text, float8, float8);',
        ),
    ]

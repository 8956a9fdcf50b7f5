from __future__ import annotations

import datetime
from typing import Any

import django.utils.timezone
from django.db import migrations, models
from django.db.models import F


def _expire_as_before(apps: Any, schema_editor: Any) -> None:
    # Rows written before limits had windows of their own counted for CHAT_THROTTLE_WINDOW (900 s).
    Attempt = apps.get_model("throttle", "Attempt")
    Attempt.objects.update(until=F("at") + datetime.timedelta(seconds=900))


class Migration(migrations.Migration):
    dependencies = [("throttle", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="attempt",
            name="until",
            field=models.DateTimeField(default=django.utils.timezone.now),
            preserve_default=False,
        ),
        migrations.RunPython(_expire_as_before, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name="attempt", name="throttle_attempt_at"),
        migrations.AddIndex(
            model_name="attempt",
            index=models.Index(fields=["until"], name="throttle_attempt_until"),
        ),
    ]

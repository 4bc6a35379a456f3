from django.db import migrations, models


def forget_rollups(apps, schema_editor):
    """The sums change unit: every hour is read from raw rows until `refresh_rollups` rolls it up again."""
    for name in ("RolledUpHour", "HourlyRollup", "DailyRollup", "HourlyUserPresence", "DailyUserPresence"):
        apps.get_model("llm", name).objects.using(schema_editor.connection.alias).all().delete()
    apps.get_model("llm", "HourlyFeedback").objects.using(schema_editor.connection.alias).all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("llm", "0008_feedback_rollups"),
    ]

    operations = [
        migrations.RunPython(forget_rollups, migrations.RunPython.noop),
        migrations.RemoveField(model_name="hourlyrollup", name="latency_sum_ms"),
        migrations.RemoveField(model_name="hourlyrollup", name="ttft_sum_ms"),
        migrations.RemoveField(model_name="dailyrollup", name="latency_sum_ms"),
        migrations.RemoveField(model_name="dailyrollup", name="ttft_sum_ms"),
        migrations.AddField(
            model_name="hourlyrollup",
            name="latency_sum_us",
            field=models.BigIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="hourlyrollup",
            name="ttft_sum_us",
            field=models.BigIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="dailyrollup",
            name="latency_sum_us",
            field=models.BigIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="dailyrollup",
            name="ttft_sum_us",
            field=models.BigIntegerField(default=0),
            preserve_default=False,
        ),
    ]

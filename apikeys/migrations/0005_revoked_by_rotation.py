from django.db import migrations, models


def mark_rotations(apps, schema_editor):
    # Until now a rotation was told apart by its reason; keys it revoked keep their tokens.
    ApiKey = apps.get_model("apikeys", "ApiKey")
    ApiKey.objects.filter(
        status="revoked", revoked_reason="rotated", replaced_by__isnull=False
    ).update(revoked_by_rotation=True)


class Migration(migrations.Migration):
    dependencies = [("apikeys", "0004_key_note")]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="revoked_by_rotation",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(mark_rotations, migrations.RunPython.noop),
    ]

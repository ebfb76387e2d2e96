"""The database's backstop for the one-successor rotation rule, and no key stored with an empty
allowlist (SPEC §4: null means no restriction)."""

from django.db import migrations, models


def empty_allowlists_to_null(apps, schema_editor):
    ApiKey = apps.get_model("apikeys", "ApiKey")
    for key in ApiKey.objects.filter(allowed_ips__isnull=False).only("pk", "allowed_ips"):
        if key.allowed_ips == []:
            ApiKey.objects.filter(pk=key.pk).update(allowed_ips=None)


class Migration(migrations.Migration):
    dependencies = [
        ("apikeys", "0002_initial"),
    ]

    operations = [
        migrations.RunPython(empty_allowlists_to_null, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="apikey",
            constraint=models.UniqueConstraint(
                condition=models.Q(rotated_from__isnull=False),
                fields=("rotated_from",),
                name="apikey_one_successor",
            ),
        ),
    ]

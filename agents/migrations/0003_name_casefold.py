"""Agent names unique under Unicode case folding on every database (a stored `name_key`), and
no agent stored with an empty allowlist (SPEC §4: null means no restriction)."""

import unicodedata

from django.db import migrations, models


def name_key(name):
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def fill_name_keys(apps, schema_editor):
    Agent = apps.get_model("agents", "Agent")
    seen = set()
    # On SQLite, names that differ only in non-ASCII case could coexist before: the later one
    # gets a numbered suffix rather than failing the migration.
    for agent in Agent.objects.order_by("created_at", "id"):
        name, n = agent.name, 2
        while (agent.tenant_id, name_key(name)) in seen:
            name = f"{agent.name[:94]} ({n})"
            n += 1
        seen.add((agent.tenant_id, name_key(name)))
        Agent.objects.filter(pk=agent.pk).update(name=name, name_key=name_key(name))


def empty_allowlists_to_null(apps, schema_editor):
    Agent = apps.get_model("agents", "Agent")
    for agent in Agent.objects.filter(allowed_ips__isnull=False).only("pk", "allowed_ips"):
        if agent.allowed_ips == []:
            Agent.objects.filter(pk=agent.pk).update(allowed_ips=None)


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0002_initial"),
        ("tenants", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="agent",
            name="name_key",
            field=models.CharField(default="", editable=False, max_length=300),
        ),
        migrations.RunPython(fill_name_keys, migrations.RunPython.noop),
        migrations.RunPython(empty_allowlists_to_null, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="agent", name="agent_name_ci_unique"),
        migrations.AddConstraint(
            model_name="agent",
            constraint=models.UniqueConstraint(
                fields=("tenant", "name_key"), name="agent_name_key_unique"
            ),
        ),
    ]

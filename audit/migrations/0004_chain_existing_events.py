"""Chain the events recorded before the chain existed, per tenant, in the order (occurredAt, id).

The hash is audit.chain's (imported, not copied: the canonical form is fixed for good, since
changing it would break every chain anyway). Batches of a few thousand rows, so a long log is
never loaded whole."""

from django.db import migrations
from django.db.models import Q

from audit import chain

BATCH = 2000


def chain_existing(apps, schema_editor):
    Tenant = apps.get_model("tenants", "Tenant")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    db = schema_editor.connection.alias
    for tenant in Tenant.objects.using(db).order_by("pk").iterator():
        events = AuditEvent.objects.using(db).filter(tenant=tenant).order_by("occurred_at", "id")
        prev_hash, seq, after = chain.GENESIS, 0, None
        while True:
            batch = events
            if after is not None:
                batch = batch.filter(
                    Q(occurred_at__gt=after.occurred_at)
                    | Q(occurred_at=after.occurred_at, id__gt=after.id)
                )
            batch = list(batch[:BATCH])
            if not batch:
                break
            for event in batch:
                seq += 1
                event.seq, event.prev_hash = seq, prev_hash
                event.hash = prev_hash = chain.digest(prev_hash, event, tenant.slug)
            AuditEvent.objects.using(db).bulk_update(batch, ["seq", "prev_hash", "hash"])
            after = batch[-1]


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_chain_fields"),
        ("tenants", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(chain_existing, migrations.RunPython.noop, elidable=False),
    ]

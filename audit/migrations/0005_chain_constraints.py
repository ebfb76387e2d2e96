from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0004_chain_existing_events"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.PositiveBigIntegerField(editable=False),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(fields=("tenant", "seq"), name="audit_tenant_seq"),
        ),
    ]

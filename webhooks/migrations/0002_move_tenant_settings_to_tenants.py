"""TenantPolicy and ExpiryNotice move to `tenants` (tenants/0002 takes them over). Their tables
are renamed, not copied, so no row is lost; only Django's state forgets them here."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0001_initial'),
    ]

    operations = [
        migrations.AlterModelTable(name='tenantpolicy', table='tenants_tenantpolicy'),
        migrations.AlterModelTable(name='expirynotice', table='tenants_expirynotice'),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='TenantPolicy'),
                migrations.DeleteModel(name='ExpiryNotice'),
            ],
        ),
    ]

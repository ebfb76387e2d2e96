"""TenantPolicy and ExpiryNotice, formerly of `webhooks`: webhooks/0002 renamed their tables to
these models' names, so this only tells Django's state that they live here now."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tenants', '0001_initial'),
        ('webhooks', '0002_move_tenant_settings_to_tenants'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='TenantPolicy',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('dormant_key_days', models.IntegerField(blank=True, null=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('tenant', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='policy', to='tenants.tenant')),
                    ],
                ),
                migrations.CreateModel(
                    name='ExpiryNotice',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('target_type', models.CharField(max_length=20)),
                        ('target_id', models.CharField(max_length=64)),
                        ('expires_at', models.DateTimeField()),
                        ('threshold', models.IntegerField()),
                        ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenants.tenant')),
                    ],
                    options={
                        'constraints': [models.UniqueConstraint(fields=('target_type', 'target_id', 'expires_at', 'threshold'), name='wh_expiry_notice_once')],
                    },
                ),
            ],
        ),
    ]

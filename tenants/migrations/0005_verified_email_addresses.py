from django.db import migrations


def verify_existing_addresses(apps, schema_editor):
    """Accounts made before allauth were made by an operator or an owner, never by signing up:
    record their address as verified, as tenants.models.UserManager does for new ones."""
    User = apps.get_model("tenants", "User")
    EmailAddress = apps.get_model("account", "EmailAddress")
    known = set(EmailAddress.objects.values_list("user_id", flat=True))
    EmailAddress.objects.bulk_create(
        EmailAddress(user_id=u.pk, email=u.email.lower(), primary=True, verified=True)
        for u in User.objects.exclude(pk__in=known).only("pk", "email")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0004_tenant_signin_policy"),
        ("account", "0009_emailaddress_unique_primary_email"),
    ]

    operations = [migrations.RunPython(verify_existing_addresses, migrations.RunPython.noop)]

"""The one-successor rotation rule has a database backstop: a unique constraint on
`rotated_from` (where set), so even a rotation that slipped past the row lock cannot make a
second successor; it is a 409, never a 500."""

import pytest
from django.db import IntegrityError, connection, transaction

from access.actor import Actor
from apikeys import services
from apikeys.models import ApiKey
from portal.errors import Conflict
from tests.conftest import mint_admin_key

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


def successor(tenant, of, public_id):
    return ApiKey.objects.create(
        tenant=tenant, kind="admin", name="s", public_id=public_id, digest="x", rotated_from=of
    )


def test_the_one_successor_constraint_exists_in_the_database():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, ApiKey._meta.db_table)
    assert constraints["apikey_one_successor"]["unique"]


def test_the_database_refuses_a_second_successor_of_one_key(tenant):
    target, _ = mint_admin_key(tenant, name="target")
    successor(tenant, target, "first000000000000000000")
    with pytest.raises(IntegrityError), transaction.atomic():
        successor(tenant, target, "second00000000000000000")


def test_keys_that_were_never_rotated_do_not_clash(tenant):
    mint_admin_key(tenant, name="a")
    mint_admin_key(tenant, name="b")
    assert ApiKey.objects.filter(rotated_from=None).count() == 2


def test_a_rotation_past_a_stale_lock_is_a_conflict_with_one_successor(tenant):
    target, _ = mint_admin_key(tenant, name="target")
    stale = ApiKey.objects.get(pk=target.pk)
    services.rotate_key(tenant, SYSTEM, target, grace_period=3600)
    # As if the row lock had not held: the rotation starts from the key as it was before.
    with pytest.raises(Conflict), transaction.atomic():
        services.replace_keys(tenant, SYSTEM, [stale], grace_period=3600)
    assert ApiKey.objects.filter(rotated_from=target).count() == 1

"""Concurrent rotations of one key (SPEC §5): exactly one succeeds, the others get 409, and
never two live successors. Real row locks, so PostgreSQL only."""

import threading

import pytest
from django.db import connection

from apikeys.models import ApiKey
from tests.conftest import ApiClient, mint_admin_key, requires_postgres

API = "/t/acme-corp/api/v1/admin/api-keys"
THREADS = 8


def race(n, action):
    """Run `action()` in n threads released together; return their results."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        try:
            barrier.wait(timeout=10)
            results[i] = action()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@requires_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("grace", [0, 3600])
def test_eight_concurrent_rotations_make_exactly_one_successor(tenant, grace):
    _, admin_secret = mint_admin_key(tenant, name="automation")
    target, _ = mint_admin_key(tenant, name="target")

    def rotate():
        return ApiClient(admin_secret).post(f"{API}/{target.pk}/rotate", {"gracePeriod": grace})

    responses = race(THREADS, rotate)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (THREADS - 1)
    assert all(r.json()["error"] == "conflict" for r in responses if r.status_code == 409)

    successors = ApiKey.objects.filter(rotated_from=target)
    assert successors.count() == 1
    winner = next(r.json() for r in responses if r.status_code == 201)
    target.refresh_from_db()
    assert str(target.replaced_by_id) == winner["id"] == str(successors.get().pk)
    assert target.status == ("revoked" if grace == 0 else "deprecated")
    assert tenant.api_keys.filter(name="target").count() == 2


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_revoke_and_deprecate_leave_one_consistent_state(tenant):
    _, admin_secret = mint_admin_key(tenant, name="automation")
    target, _ = mint_admin_key(tenant, name="target")
    actions = iter(["revoke", "deprecate"] * (THREADS // 2))
    lock = threading.Lock()

    def act():
        with lock:
            action = next(actions)
        return action, ApiClient(admin_secret).post(f"{API}/{target.pk}/{action}")

    results = race(THREADS, act)
    ok = [(a, r.status_code) for a, r in results if r.status_code == 200]
    # One revoke wins outright; at most one deprecate can slip in before it.
    assert sum(1 for a, _ in ok if a == "revoke") == 1
    assert sum(1 for a, _ in ok if a == "deprecate") <= 1
    assert all(r.status_code in (200, 409) for _, r in results)
    target.refresh_from_db()
    assert target.status == "revoked"

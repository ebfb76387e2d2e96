"""Races on PostgreSQL (real row locks and unique indexes): concurrent creates of one agent name
give one 201 and 409s; concurrent rotations of one agent key give exactly one successor."""

import threading

import pytest
from django.db import connection

from agents.models import Agent
from apikeys.models import ApiKey
from tests.agents.conftest import ADMIN, make_agent
from tests.conftest import ApiClient, mint_admin_key, requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8


def race(calls):
    """Run the callables at the same moment, each on its own connection; return their results."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait(timeout=10)
            results[i] = call()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_concurrent_creates_of_one_name_give_one_201_and_409s(tenant):
    secret = mint_admin_key(tenant)[1]
    names = ["Racer", "racer", "RACER", "Racer", "rAcer", "racer", "Racer", "RaCeR"][:THREADS]
    responses = race(
        [lambda n=n: ApiClient(secret).post(f"{ADMIN}/agents", {"name": n}) for n in names]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (THREADS - 1)
    for r in responses:
        if r.status_code == 409:
            assert r.json()["error"] == "conflict"
    assert Agent.objects.filter(tenant=tenant).count() == 1
    assert ApiKey.objects.filter(kind="agent").count() == 1


def test_concurrent_rotations_of_one_agent_key_give_one_successor(tenant):
    secret = mint_admin_key(tenant)[1]
    agent, key, _ = make_agent(tenant, name="rotating")
    url = f"{ADMIN}/agents/{agent.pk}/rotate-key"
    responses = race(
        [lambda: ApiClient(secret).post(url, {"keyId": str(key.pk)}) for _ in range(THREADS)]
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * (THREADS - 1)
    live = ApiKey.objects.filter(agent=agent).exclude(status="revoked")
    assert live.count() == 1


def test_concurrent_self_rotations_give_one_successor(tenant):
    agent, key, agent_secret = make_agent(tenant, name="self-rotating")
    url = "/t/acme-corp/api/v1/agents/me/rotate"
    responses = race([lambda: ApiClient(agent_secret).post(url, {}) for _ in range(THREADS)])
    codes = sorted(r.status_code for r in responses)
    # The losers either see the key already rotated (409) or already revoked (401).
    assert codes.count(201) == 1 and set(codes) <= {201, 401, 409}
    assert ApiKey.objects.filter(agent=agent).exclude(status="revoked").count() == 1

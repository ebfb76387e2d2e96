"""The keys list issues the same number of queries at 1 key as at 50 (agent keys included)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from access.actor import Actor
from agents.models import Agent
from apikeys import services
from tests.conftest import HTMX, mint_admin_key

PAGE = "/t/acme-corp/portal/settings/api-keys"
API = "/t/acme-corp/api/v1/admin/api-keys"

pytestmark = pytest.mark.django_db


def count_queries(fetch) -> int:
    fetch()  # warm: sessions, caches, lazy imports
    with CaptureQueriesContext(connection) as ctx:
        response = fetch()
    assert response.status_code == 200
    return len(ctx.captured_queries)


def add_keys(tenant, total):
    """Grow the tenant to `total` keys: admin keys in every state and keys of several agents."""
    actor = Actor.system("tests")
    agents = [Agent.objects.create(tenant=tenant, name=f"agent-{i}") for i in range(5)]
    have = tenant.api_keys.count()
    for i in range(total - have):
        if i % 3 == 0:
            services.mint_key(tenant, actor, name=f"ak{i}", agent=agents[i % 5])
        else:
            key, _ = mint_admin_key(tenant, name=f"k{i}", scopes=["agents:read"] if i % 2 else [])
            if i % 4 == 1:
                services.deprecate_key(tenant, actor, key)
            elif i % 4 == 2:
                services.revoke_key(tenant, actor, key)
    assert tenant.api_keys.count() == total


@pytest.mark.parametrize(
    "fetch",
    [
        pytest.param(lambda c, a: c.get(PAGE), id="page"),
        pytest.param(lambda c, a: c.get(PAGE, headers=HTMX), id="fragment"),
        pytest.param(lambda c, a: a.get(API), id="json-key"),
        pytest.param(lambda c, a: c.get(API), id="json-session"),
    ],
)
def test_keys_list_query_count_does_not_grow_with_rows(owner_client, api, tenant, fetch):
    one = count_queries(lambda: fetch(owner_client, api))
    add_keys(tenant, 50)
    fifty = count_queries(lambda: fetch(owner_client, api))
    assert fifty == one
    rendered = fetch(owner_client, api).content.decode()
    assert "agent-" in rendered or "agentId" in rendered


def test_keys_page_needs_few_queries(owner_client, tenant):
    add_keys(tenant, 50)
    # session, user, membership, keys, the nav's memberships.
    assert count_queries(lambda: owner_client.get(PAGE)) <= 6


def test_listing_by_api_key_is_two_queries(api, tenant):
    add_keys(tenant, 20)
    # The key lookup, then the page of keys.
    assert count_queries(lambda: api.get(API)) == 2

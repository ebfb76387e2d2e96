"""`?q=` searches keys (name, note, prefix) and agents (name, or one of their keys) the same way
in the portal tables and the JSON lists, keeps keyset pagination, and costs the same number of
queries at 1 and 50 rows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from access.actor import Actor
from agents import services as agent_services
from apikeys import services
from tests.conftest import HTMX, mint_admin_key

PAGE = "/t/acme-corp/portal/settings/api-keys"
API = "/t/acme-corp/api/v1/admin/api-keys"
AGENTS_PAGE = "/t/acme-corp/portal/agents"
AGENTS_API = "/t/acme-corp/api/v1/admin/agents"
SYSTEM = Actor.system("tests")

pytestmark = pytest.mark.django_db


def names(response):
    return sorted(k["name"] for k in response.json()["data"])


def test_keys_are_found_by_name_case_insensitively(api, tenant):
    mint_admin_key(tenant, name="CI deploy")
    mint_admin_key(tenant, name="billing")
    assert names(api.get(API, {"q": "ci"})) == ["CI deploy"]


def test_keys_are_found_by_note(api, tenant):
    key, _ = mint_admin_key(tenant, name="ci")
    mint_admin_key(tenant, name="ci")
    services.update_key(tenant, SYSTEM, key, note="GitHub Actions, repo web")
    found = api.get(API, {"q": "github"}).json()["data"]
    assert [k["id"] for k in found] == [str(key.pk)]


def test_keys_are_found_by_prefix_and_only_by_its_start(api, tenant):
    key, _ = mint_admin_key(tenant, name="one")
    mint_admin_key(tenant, name="two")
    assert [k["id"] for k in api.get(API, {"q": key.prefix[:8]}).json()["data"]] == [str(key.pk)]
    assert [k["id"] for k in api.get(API, {"q": key.prefix}).json()["data"]] == [str(key.pk)]
    # The middle of a public id is no prefix.
    assert api.get(API, {"q": "lmk_" + key.public_id[3:]}).json()["data"] == []


def test_search_combines_with_filters_and_keeps_pagination(api, tenant):
    for i in range(5):
        mint_admin_key(tenant, name=f"ci-{i}")
    old, _ = mint_admin_key(tenant, name="ci-old")
    services.revoke_key(tenant, SYSTEM, old)
    mint_admin_key(tenant, name="other")
    first = api.get(API, {"q": "ci", "status": "active", "limit": 3}).json()
    assert first["hasMore"] and len(first["data"]) == 3
    rest = api.get(API, {"q": "ci", "status": "active", "limit": 3, "cursor": first["nextCursor"]})
    seen = [k["name"] for k in first["data"] + rest.json()["data"]]
    assert sorted(seen) == [f"ci-{i}" for i in range(5)] and not rest.json()["hasMore"]


def test_an_overlong_search_is_400(api):
    response = api.get(API, {"q": "x" * 101})
    assert response.status_code == 400
    assert "q" in response.json()["details"]


def test_keys_page_has_a_search_box_and_filters_its_table(owner_client, tenant):
    mint_admin_key(tenant, name="ci-deploy")
    mint_admin_key(tenant, name="billing")
    page = owner_client.get(PAGE, {"q": "deploy"}).content.decode()
    assert '<form class="filters" method="get"' in page and 'name="q"' in page
    assert 'value="deploy"' in page
    assert "ci-deploy" in page and ">billing<" not in page
    fragment = owner_client.get(PAGE, {"q": "bill"}, headers=HTMX).content.decode()
    assert "<html" not in fragment and 'id="key-table"' in fragment
    assert ">billing<" in fragment and "ci-deploy" not in fragment
    empty = owner_client.get(PAGE, {"q": "nothing-like-it"}).content.decode()
    assert "No keys match these filters." in empty


def test_agents_are_found_by_name_or_by_a_key_prefix(api, owner_client, tenant):
    bot, key, _ = agent_services.create_agent(tenant, SYSTEM, name="Support bot")
    agent_services.create_agent(tenant, SYSTEM, name="Billing bot")
    assert [a["name"] for a in api.get(AGENTS_API, {"q": "support"}).json()["data"]] == [
        "Support bot"
    ]
    agent_services.mint_agent_key(tenant, SYSTEM, bot, name="second")
    found = api.get(AGENTS_API, {"q": key.prefix}).json()["data"]
    assert [a["name"] for a in found] == ["Support bot"]  # once, though it has two keys
    page = owner_client.get(AGENTS_PAGE, {"q": "billing"}).content.decode()
    assert 'name="q"' in page and "Billing bot" in page and "Support bot" not in page
    fragment = owner_client.get(AGENTS_PAGE, {"q": "support"}, headers=HTMX).content.decode()
    assert "<html" not in fragment and "Support bot" in fragment and "Billing bot" not in fragment


def test_search_is_tenant_scoped(api, tenant, other_tenant):
    mint_admin_key(other_tenant, name="ci-elsewhere")
    agent_services.create_agent(other_tenant, SYSTEM, name="ci-agent")
    assert api.get(API, {"q": "ci-"}).json()["data"] == []
    assert api.get(AGENTS_API, {"q": "ci-"}).json()["data"] == []


def count_queries(fetch) -> int:
    fetch()
    with CaptureQueriesContext(connection) as ctx:
        response = fetch()
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    "path, client_name, headers",
    [
        (PAGE, "owner_client", {}),
        (PAGE, "owner_client", HTMX),
        (API, "api", {}),
        (AGENTS_PAGE, "owner_client", {}),
        (AGENTS_API, "api", {}),
    ],
)
def test_searching_costs_the_same_queries_at_1_and_50_rows(
    request, tenant, path, client_name, headers
):
    client = request.getfixturevalue(client_name)

    def grow(total):
        while tenant.agents.count() < total:
            i = tenant.agents.count()
            agent, key, _ = agent_services.create_agent(tenant, SYSTEM, name=f"match-agent-{i}")
            services.update_key(tenant, SYSTEM, key, note="match")
            mint_admin_key(tenant, name=f"match-{i}")

    def fetch():
        return client.get(path, {"q": "match"}, headers=headers)

    grow(1)
    one = count_queries(fetch)
    grow(50)
    fifty = count_queries(fetch)
    assert fifty == one
    assert "match-" in fetch().content.decode()

"""`meta` on agents and keys (SPEC §15): its limits, where it is set and where it is returned."""

import pytest

from agents import services
from apikeys import services as key_services
from tests.agents.conftest import ADMIN, PORTAL, RUNTIME, SYSTEM, make_agent
from tests.conftest import HTMX, ApiClient

pytestmark = pytest.mark.django_db
VERIFY = "/t/acme-corp/api/v1/keys/verify"


def deep(levels):
    value = 1
    for _ in range(levels):
        value = {"x": value}
    return value


def test_create_agent_with_meta_returns_it(api):
    response = api.post(f"{ADMIN}/agents", {"name": "bot", "meta": {"team": "billing"}})
    assert response.status_code == 201
    assert response.json()["meta"] == {"team": "billing"}
    assert response.json()["keys"][0]["meta"] == {}


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ("text", "Must be a JSON object."),
        ([1, 2], "Must be a JSON object."),
        (deep(4), "Nested deeper than 3 levels."),
        ({"big": "x" * 4100}, "At most 4096 bytes"),
    ],
)
def test_meta_limits_are_400_with_details(api, meta, message):
    response = api.post(f"{ADMIN}/agents", {"name": "bot", "meta": meta})
    assert response.status_code == 400
    assert message in response.json()["details"]["meta"][0]


def test_meta_at_the_limits_is_accepted(api):
    body = {"pad": ""}
    body["pad"] = "x" * (4096 - len('{"pad":""}'))
    assert api.post(f"{ADMIN}/agents", {"name": "a", "meta": deep(3)}).status_code == 201
    assert api.post(f"{ADMIN}/agents", {"name": "b", "meta": body}).status_code == 201
    body["pad"] += "x"
    assert api.post(f"{ADMIN}/agents", {"name": "c", "meta": body}).status_code == 400


def test_meta_counts_utf8_bytes_not_characters(api):
    body = {"pad": "é" * 2100}  # 2,100 characters, 4,200 bytes
    assert api.post(f"{ADMIN}/agents", {"name": "bot", "meta": body}).status_code == 400


def test_patch_agent_meta_and_null_clears(api, agent):
    url = f"{ADMIN}/agents/{agent.pk}"
    assert api.patch(url, {"meta": {"env": "prod"}}).json()["meta"] == {"env": "prod"}
    agent.refresh_from_db()
    assert agent.meta == {"env": "prod"} and agent.name == "support-bot"
    assert api.patch(url, {"meta": None}).json()["meta"] == {}


def test_keys_take_meta_on_mint_patch_and_rotation(api, agent):
    minted = api.post(f"{ADMIN}/agents/{agent.pk}/keys", {"name": "k", "meta": {"a": 1}})
    assert minted.status_code == 201 and minted.json()["meta"] == {"a": 1}
    admin = api.post(f"{ADMIN}/api-keys", {"name": "ci", "meta": {"owner": "ops"}})
    assert admin.json()["meta"] == {"owner": "ops"}
    patched = api.patch(f"{ADMIN}/api-keys/{admin.json()['id']}", {"meta": {"owner": "sre"}})
    assert patched.json()["meta"] == {"owner": "sre"}
    rotated = api.post(f"{ADMIN}/api-keys/{admin.json()['id']}/rotate", {})
    assert rotated.json()["meta"] == {"owner": "sre"}


def test_verify_merges_the_keys_meta_over_the_agents(api, tenant):
    agent, key, secret = make_agent(tenant, name="m", meta={"team": "a", "tier": "gold"})
    key_services.update_key(tenant, SYSTEM, key, meta={"tier": "silver", "k": True})
    answer = api.post(VERIFY, {"key": secret}).json()
    assert answer["code"] == "VALID"
    assert answer["meta"] == {"team": "a", "tier": "silver", "k": True}


def test_verify_of_an_unknown_key_has_empty_meta(api):
    assert api.post(VERIFY, {"key": "nope"}).json()["meta"] == {}


def test_verify_stays_one_query_with_meta(api, tenant, django_assert_num_queries):
    _, _, secret = make_agent(tenant, name="m", meta={"team": "a"})
    api.post(VERIFY, {"key": secret})
    with django_assert_num_queries(1):
        assert api.post(VERIFY, {"key": secret}).json()["meta"] == {"team": "a"}


def test_agents_me_shows_meta(tenant):
    agent, _, secret = make_agent(tenant, name="m", meta={"team": "a"})
    assert ApiClient(secret).get(RUNTIME).json()["meta"] == {"team": "a"}


def test_meta_change_is_audited(tenant, agent):
    services.update_agent(tenant, SYSTEM, agent, meta={"a": 1})
    event = tenant.audit_events.filter(action="agent.updated").latest("occurred_at")
    assert event.metadata["changes"]["meta"] == [{}, {"a": 1}]


def test_portal_meta_form_saves_json(admin_client, agent):
    url = f"{PORTAL}/agents/{agent.pk}"
    response = admin_client.post(url, {"meta": '{"team": "billing"}'})
    assert response.status_code == 303
    agent.refresh_from_db()
    assert agent.meta == {"team": "billing"} and agent.name == "support-bot"


def test_portal_invalid_json_shows_the_error_and_keeps_the_text(admin_client, agent):
    url = f"{PORTAL}/agents/{agent.pk}"
    response = admin_client.post(url, {"meta": '{"team": '})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Not valid JSON" in html and "{&quot;team&quot;: </textarea>" in html
    agent.refresh_from_db()
    assert agent.meta == {}


def test_portal_invalid_json_in_htmx_is_an_error_fragment(admin_client, agent):
    url = f"{PORTAL}/agents/{agent.pk}"
    response = admin_client.post(url, {"meta": "[1]"}, headers=HTMX)
    assert response.status_code == 400
    assert response["HX-Retarget"] == "#flash"
    assert "Must be a JSON object" in response.content.decode()


def test_portal_key_page_edits_meta(admin_client, tenant, agent):
    key = agent.keys.get()
    url = f"{PORTAL}/settings/api-keys/{key.pk}"
    assert admin_client.post(url, {"meta": '{"a": [1, 2]}'}).status_code == 303
    key.refresh_from_db()
    assert key.meta == {"a": [1, 2]} and key.name == "default"
    page = admin_client.get(url).content.decode()
    assert "Edit metadata" in page and "&quot;a&quot;" in page

"""A mint form posted twice mints one key: each carries a one-time nonce (portal/once.py).
Without JavaScript a reload of the page a mint answered posts it again; the second post mints
nothing and says so. Only a hash of the nonce is kept. The JSON API needs no nonce."""

import re

import pytest
from django.core.cache import cache

from apikeys.models import ApiKey
from tests.agents.conftest import PORTAL, make_agent
from tests.conftest import HTMX

pytestmark = pytest.mark.django_db

KEYS = f"{PORTAL}/settings/api-keys"


def nonce_in(html: str) -> str:
    return re.search(r'name="nonce" value="([^"]+)"', html).group(1)


def test_the_mint_form_carries_a_fresh_nonce_on_every_page(owner_client):
    first = nonce_in(owner_client.get(KEYS).content.decode())
    second = nonce_in(owner_client.get(KEYS).content.decode())
    assert len(first) >= 20 and first != second


def test_posting_the_same_mint_form_twice_mints_one_key(owner_client, tenant):
    form = {"name": "ci", "nonce": nonce_in(owner_client.get(KEYS).content.decode())}
    assert owner_client.post(KEYS, form).status_code == 201
    again = owner_client.post(KEYS, form)  # the browser's reload of the answer
    assert again.status_code == 409
    assert "already sent, so no new key was made" in again.content.decode()
    assert ApiKey.objects.filter(tenant=tenant, name="ci").count() == 1
    # A new page, a new nonce: minting another works.
    form["nonce"] = nonce_in(owner_client.get(KEYS).content.decode())
    assert owner_client.post(KEYS, form).status_code == 201


def test_a_refused_mint_does_not_spend_the_nonce(owner_client, tenant):
    nonce = nonce_in(owner_client.get(KEYS).content.decode())
    refused = owner_client.post(KEYS, {"name": "ci", "scopes": ["root"], "nonce": nonce})
    assert refused.status_code == 400
    assert owner_client.post(KEYS, {"name": "ci", "nonce": nonce}, headers=HTMX).status_code == 201


def test_only_a_hash_of_the_nonce_is_kept(owner_client):
    nonce = nonce_in(owner_client.get(KEYS).content.decode())
    owner_client.post(KEYS, {"name": "ci", "nonce": nonce})
    kept = [k for k in cache._cache if "form-nonce" in k]  # locmem's store
    assert len(kept) == 1 and nonce not in kept[0]


def test_the_same_nonce_is_per_user(owner_client, admin_client, tenant):
    nonce = nonce_in(owner_client.get(KEYS).content.decode())
    assert owner_client.post(KEYS, {"name": "a", "nonce": nonce}).status_code == 201
    assert admin_client.post(KEYS, {"name": "b", "nonce": nonce}).status_code == 201


def test_rotating_a_key_twice_with_one_form_rotates_once(owner_client, tenant):
    key = ApiKey.objects.get(tenant=tenant, pk=_mint(owner_client))
    form = {"gracePeriod": "0", "nonce": "rotate-form-1"}
    assert owner_client.post(f"{KEYS}/{key.pk}/rotate", form).status_code == 201
    assert owner_client.post(f"{KEYS}/{key.pk}/rotate", form).status_code == 409
    assert ApiKey.objects.filter(tenant=tenant).count() == 2


def _mint(client) -> str:
    response = client.post(KEYS, {"name": "ci"})
    return ApiKey.objects.get(name="ci").pk if response.status_code == 201 else None


def test_agent_key_forms_are_one_time_too(admin_client, tenant):
    agent = make_agent(tenant, name="bot")[0]
    base = f"{PORTAL}/agents/{agent.pk}"
    html = admin_client.get(base).content.decode()
    assert len(re.findall(r'name="nonce"', html)) >= 2  # mint another key, rotate all
    mint = {"name": "second", "nonce": "agent-mint-1"}
    assert admin_client.post(f"{base}/keys", mint).status_code == 201
    assert admin_client.post(f"{base}/keys", mint).status_code == 409
    rotate = {"gracePeriod": "0", "confirm": "bot", "nonce": "agent-rotate-1"}
    assert admin_client.post(f"{base}/rotate-key", rotate).status_code == 201
    assert admin_client.post(f"{base}/rotate-key", rotate).status_code == 409
    assert ApiKey.objects.filter(agent=agent).count() == 3  # first, second, one replacement


def test_the_json_api_needs_no_nonce(api, tenant):
    url = "/t/acme-corp/api/v1/admin/api-keys"
    assert api.post(url, {"name": "one"}).status_code == 201
    assert api.post(url, {"name": "one"}).status_code == 201  # no nonce, no check
    assert api.post(url, {"name": "two", "nonce": "x"}).status_code == 400  # SPEC's fields only


def replace_url(html: str) -> str | None:
    found = re.search(r'<body[^>]* data-replace-url="([^"]+)"', html)
    return found and found.group(1)


def test_a_page_showing_a_new_key_names_the_page_to_reload(owner_client, admin_client, tenant):
    """It answers a post and cannot redirect (the key is only in its body); portal.js moves the
    address bar to this URL, so a reload is a GET of the list, not the post again."""
    key = ApiKey.objects.get(tenant=tenant, pk=_mint(owner_client))
    rotated = owner_client.post(f"{KEYS}/{key.pk}/rotate?q=ci", {"gracePeriod": "0"})
    assert rotated.status_code == 201 and replace_url(rotated.content.decode()) == f"{KEYS}?q=ci"
    minted = owner_client.post(KEYS, {"name": "other"})
    assert replace_url(minted.content.decode()) == KEYS
    agent = make_agent(tenant, name="bot")[0]
    base = f"{PORTAL}/agents/{agent.pk}"
    for answer in (
        admin_client.post(f"{base}/keys", {"name": "second"}),
        admin_client.post(f"{base}/rotate-key", {"gracePeriod": "0", "confirm": "bot"}),
    ):
        assert answer.status_code == 201 and replace_url(answer.content.decode()) == base
    # An ordinary page, and an HTMX fragment (the address bar stays), name none.
    assert replace_url(owner_client.get(KEYS).content.decode()) is None
    fragment = owner_client.post(KEYS, {"name": "third"}, headers=HTMX).content.decode()
    assert "data-replace-url" not in fragment

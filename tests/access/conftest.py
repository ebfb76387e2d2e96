"""A small world every door can be tried against, built through the HTTP API.

`World` holds a tenant (acme-corp) and another one (globex), an admin key, an agent with one
key, and the verifier keys of both tenants. Requests go through the in-process test client
with `REMOTE_ADDR` set, so the source address is the test's to choose. States the API cannot
make (a key's expiry in the past, an allowlist on an agent key, a rate limit of 1) are written
on the model rows directly.
"""

import datetime as dt
import json
from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.utils import timezone

from agents.models import Agent
from apikeys.models import ApiKey
from tests.conftest import mint_admin_key

INSIDE = "10.1.2.3"  # the address every request comes from unless a test moves it
FENCE = ["192.0.2.0/24"]  # an allowlist that INSIDE is outside of


def api_url(slug, path):
    return f"/t/{slug}/api/v1/{path}"


def call(method, url, *, credential=None, body=None, form=None, ip=INSIDE, headers=None):
    """One request from `ip`: JSON `body` or form-encoded `form`, `credential` as Bearer."""
    headers = dict(headers or {})
    if credential:
        headers["Authorization"] = f"Bearer {credential}"
    client = Client()
    if method == "get":
        return client.get(url, headers=headers, REMOTE_ADDR=ip)
    if form is not None:
        data, ctype = form, "application/x-www-form-urlencoded"
    else:
        data, ctype = ("" if body is None else json.dumps(body)), "application/json"
    return getattr(client, method)(url, data, content_type=ctype, headers=headers, REMOTE_ADDR=ip)


@dataclass
class World:
    setup: str  # a full-admin key of acme-corp that arranges things; never the subject
    admin_id: str
    admin_secret: str
    agent_id: str
    agent_key_id: str
    agent_secret: str
    verifiers: dict  # tenant slug -> a key allowed to call /keys/verify there
    slug: str = "acme-corp"  # the tenant whose URL the door is tried at
    ip: str = INSIDE  # the source address of the door's request
    state: dict = field(default_factory=dict)  # what a door prepared (tokens)

    def admin(self, method, path, body=None):
        """An arranging request on acme-corp's admin API; it must succeed."""
        response = call(
            method, api_url("acme-corp", f"admin/{path}"), credential=self.setup, body=body
        )
        assert response.status_code < 300, (path, response.status_code, response.content)
        return response

    def ask_token(self, scope=None, ip=None):
        """A client-credentials request for the agent, at the world's tenant."""
        body = {
            "grant_type": "client_credentials",
            "client_id": self.agent_id,
            "client_secret": self.agent_secret,
        }
        if scope is not None:
            body["scope"] = scope
        return call("post", api_url(self.slug, "oauth/token"), body=body, ip=ip or self.ip)

    def token(self, scope=None):
        """A client-credentials answer for the agent; it must be a 200."""
        response = self.ask_token(scope)
        assert response.status_code == 200, response.content
        return response.json()

    def refresh(self, refresh_token, ip=None):
        return call(
            "post",
            api_url(self.slug, "oauth/token"),
            body={"grant_type": "refresh_token", "refresh_token": refresh_token},
            ip=ip or self.ip,
        )

    def me(self, credential, ip=None):
        return call("get", api_url(self.slug, "agents/me"), credential=credential, ip=ip or self.ip)


def spend_budget(secret, path):
    """Use `secret` on acme-corp's `path` until it answers 429 (the test has set its rate limit
    or quota low); fail if it never does."""
    for _ in range(5):
        if call("get", api_url("acme-corp", path), credential=secret).status_code == 429:
            return
    raise AssertionError(f"the key never reached its rate limit or quota on {path}")


def key_row(key_id):
    return ApiKey.objects.filter(pk=key_id)


def agent_row(agent_id):
    return Agent.objects.filter(pk=agent_id)


def later(minutes):
    return timezone.now() + dt.timedelta(minutes=minutes)


@pytest.fixture
def world(tenant, other_tenant, admin_key):
    setup = admin_key[1]
    made = World(setup, "", "", "", "", "", {})
    minted = made.admin("post", "api-keys", {"name": "subject"}).json()
    agent = made.admin(
        "post", "agents", {"name": "door-bot", "permissions": ["read:reports"]}
    ).json()
    made.admin_id, made.admin_secret = minted["id"], minted["apiKey"]
    made.agent_id, made.agent_secret = agent["id"], agent["apiKey"]
    made.agent_key_id = agent["keys"][0]["id"]
    made.verifiers = {"acme-corp": setup, "globex": mint_admin_key(other_tenant, "verifier")[1]}
    return made

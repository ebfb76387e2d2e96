"""Shared fixtures: tenants, members (owner / admin / viewer / outsider), keys and clients.

`api` is a client that sends an admin key; `owner_client` etc. are logged-in portal clients.
"""

import json as jsonlib
import time

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from access import ratelimit, shared
from access.actor import Actor
from apikeys import services as key_services
from apikeys import usage
from tenants.models import Membership, Tenant, User
from tests import openapi_check

PASSWORD = "correct horse battery staple"

# Concurrency tests need real row locks: they run on PostgreSQL (.ci/run's second pass).
requires_postgres = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="needs PostgreSQL row locks; run with DATABASE_URL=postgres://... (CI does)",
)


@pytest.fixture(autouse=True)
def _clean_state(monkeypatch):
    cache.clear()
    usage.reset()
    shared.clear()  # key rows cached under Redis's epochs (access.shared)
    # Rate-limit windows are wall-clock minutes: a test counting its requests' budget must not
    # straddle a minute boundary. Each test runs in the middle of one (fixed) window; tests of
    # the windows themselves pass `now` explicitly.
    middle = (int(time.time()) // ratelimit.WINDOW) * ratelimit.WINDOW + ratelimit.WINDOW / 2
    monkeypatch.setattr(ratelimit, "_clock", lambda: middle)
    yield
    usage.reset()


@pytest.fixture(autouse=True)
def _responses_match_the_openapi_document():
    """Every /api/v1/ JSON response a test receives must match portal/openapi.yaml."""
    openapi_check.MISMATCHES.clear()
    yield
    found = list(openapi_check.MISMATCHES)
    openapi_check.MISMATCHES.clear()
    assert not found, "responses that break the OpenAPI document:\n" + "\n".join(found)


@pytest.fixture
def tenant(db):
    return Tenant.objects.create(slug="acme-corp", name="Acme Corp")


@pytest.fixture
def other_tenant(db):
    return Tenant.objects.create(slug="globex", name="Globex")


def make_member(tenant, email, role):
    user = User.objects.filter(email=email).first() or User.objects.create_user(email, PASSWORD)
    Membership.objects.create(tenant=tenant, user=user, role=role)
    return user


@pytest.fixture
def owner(tenant):
    return make_member(tenant, "owner@acme.test", "owner")


@pytest.fixture
def admin(tenant):
    return make_member(tenant, "admin@acme.test", "admin")


@pytest.fixture
def viewer(tenant):
    return make_member(tenant, "viewer@acme.test", "viewer")


@pytest.fixture
def outsider(other_tenant):
    """A member of another tenant: everything of `tenant` must be a 404 to them."""
    return make_member(other_tenant, "outsider@globex.test", "owner")


class ApiClient(Client):
    """A test client that speaks JSON and sends an API key."""

    def __init__(self, key=None, **kwargs):
        super().__init__(**kwargs)
        self.key = key

    def _headers(self, extra):
        headers = dict(extra.pop("headers", None) or {})
        if self.key:
            headers.setdefault("Authorization", f"Bearer {self.key}")
        return headers

    def get(self, path, data=None, **extra):
        return super().get(path, data, headers=self._headers(extra), **extra)

    def delete(self, path, data="", **extra):
        return super().delete(path, data, headers=self._headers(extra), **extra)

    def _send(self, method, path, data, extra):
        body = "" if data is None else jsonlib.dumps(data)
        ctype = extra.pop("content_type", "application/json")
        return getattr(super(), method)(
            path, body, content_type=ctype, headers=self._headers(extra), **extra
        )

    def post(self, path, data=None, **extra):
        return self._send("post", path, data, extra)

    def put(self, path, data=None, **extra):
        return self._send("put", path, data, extra)

    def patch(self, path, data=None, **extra):
        return self._send("patch", path, data, extra)


def mint_admin_key(tenant, name="automation", scopes=(), **kwargs):
    key, secret = key_services.mint_key(
        tenant, Actor.system("tests"), name=name, scopes=list(scopes), **kwargs
    )
    return key, secret


@pytest.fixture
def admin_key(tenant):
    """(ApiKey, plaintext) for a full-admin key of `tenant`."""
    return mint_admin_key(tenant)


@pytest.fixture
def api(admin_key):
    return ApiClient(admin_key[1])


@pytest.fixture
def make_api():
    return ApiClient


@pytest.fixture
def anon_api():
    return ApiClient()


def login(user, *, confirmed=True):
    """A logged-in client; `confirmed`: it confirmed access a moment ago (SPEC §14), as a
    person who just typed their password has, so sensitive posts are not interrupted."""
    client = Client()
    client.force_login(user)
    if confirmed:
        response = client.post("/accounts/reauthenticate/", {"password": PASSWORD})
        assert response.status_code == 302, "confirming access failed"
    return client


@pytest.fixture
def owner_client(owner):
    return login(owner)


@pytest.fixture
def admin_client(admin):
    return login(admin)


@pytest.fixture
def viewer_client(viewer):
    return login(viewer)


@pytest.fixture
def outsider_client(outsider):
    return login(outsider)


HTMX = {"HX-Request": "true"}


@pytest.fixture
def htmx_headers():
    return dict(HTMX)

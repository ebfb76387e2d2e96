"""Keyset pagination (SPEC §4): limit bounds, a cursor walk that sees every row once, newest
first, and bad cursors. Exercised through `GET /api-keys` and the keys page."""

import base64
import datetime as dt
import json

import pytest
from django.utils import timezone

from apikeys.models import ApiKey
from tests.conftest import mint_admin_key

API = "/t/acme-corp/api/v1/admin/api-keys"
PAGE = "/t/acme-corp/portal/settings/api-keys"

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys(tenant, admin_key):
    """Twelve keys (the api client's own included), newest first; four share one timestamp."""
    made = [admin_key[0]] + [mint_admin_key(tenant, name=f"k{i:02}")[0] for i in range(11)]
    base = timezone.now() - dt.timedelta(hours=1)
    for i, key in enumerate(made):
        ApiKey.objects.filter(pk=key.pk).update(created_at=base + dt.timedelta(minutes=i))
    tie = base + dt.timedelta(minutes=5)
    ApiKey.objects.filter(pk__in=[k.pk for k in made[4:8]]).update(created_at=tie)
    return [
        str(pk) for pk in ApiKey.objects.order_by("-created_at", "-id").values_list("pk", flat=True)
    ]


def walk(api, limit, **params):
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": limit, **params}
        if cursor:
            query["cursor"] = cursor
        body = api.get(API, query).json()
        pages += 1
        seen += [k["id"] for k in body["data"]]
        assert body["hasMore"] == (body["nextCursor"] is not None)
        if not body["hasMore"]:
            return seen, pages
        cursor = body["nextCursor"]


@pytest.mark.parametrize("limit", [1, 3, 5, 12, 200])
def test_cursor_walk_covers_every_row_exactly_once_newest_first(api, keys, limit):
    seen, pages = walk(api, limit)
    assert seen == keys
    assert pages == -(-len(keys) // limit)  # ceil: never an empty last page


def test_pages_are_exactly_limit_long(api, keys):
    first = api.get(API, {"limit": 5}).json()
    assert len(first["data"]) == 5 and first["hasMore"] is True
    last = api.get(API, {"limit": 12}).json()
    assert len(last["data"]) == 12 and last["hasMore"] is False and last["nextCursor"] is None


def test_default_limit_is_50(api, tenant):
    for i in range(50):
        mint_admin_key(tenant, name=f"k{i}")
    body = api.get(API).json()
    assert len(body["data"]) == 50 and body["hasMore"] is True


def test_rows_added_during_a_walk_do_not_shift_it(api, keys, tenant):
    first = api.get(API, {"limit": 4}).json()
    mint_admin_key(tenant, name="newcomer")
    rest, _ = walk(api, 4, cursor=first["nextCursor"])
    assert [k["id"] for k in first["data"]] + rest == keys


def test_filters_apply_across_pages(api, keys, tenant):
    from access.actor import Actor
    from apikeys import services

    mine = keys[-1]  # the api client's own key stays usable
    for pk in keys[1:-1:2]:
        services.revoke_key(tenant, Actor.system("tests"), ApiKey.objects.get(pk=pk))
    seen, _ = walk(api, 2, status="revoked")
    assert seen == keys[1:-1:2]
    assert mine not in seen


@pytest.mark.parametrize("limit", ["0", "201", "x", "-1", "1.5", "1e2"])
def test_limit_out_of_bounds_is_400(api, tenant, limit, owner_client):
    response = api.get(API, {"limit": limit})
    assert response.status_code == 400
    assert response.json()["details"] == {"limit": ["Must be an integer from 1 to 200."]}
    assert owner_client.get(PAGE, {"limit": limit}).status_code == 400


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "AAAA",
        _b64(b"not json"),
        _b64(json.dumps(["2026-01-01T00:00:00Z"]).encode()),
        _b64(json.dumps(["yesterday", "6a0e0c0e-0000-0000-0000-000000000000"]).encode()),
        _b64(json.dumps(["2026-01-01T00:00:00Z", "not-a-uuid"]).encode()),
        _b64(json.dumps({"a": 1}).encode()),
        _b64(b"\xff\xfe"),
    ],
)
def test_bad_cursor_is_400(api, tenant, cursor):
    response = api.get(API, {"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["details"] == {"cursor": ["Invalid cursor."]}


def test_portal_pages_use_the_same_cursor(owner_client, api, keys):
    body = api.get(API, {"limit": 5}).json()
    html = owner_client.get(PAGE, {"limit": 5, "cursor": body["nextCursor"]}).content.decode()
    second = api.get(API, {"limit": 5, "cursor": body["nextCursor"]}).json()
    positions = [html.index(f'id="key-{k["id"]}"') for k in second["data"]]
    assert positions == sorted(positions)
    for pk in keys[:5]:
        assert f'id="key-{pk}"' not in html

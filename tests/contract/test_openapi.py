"""The OpenAPI document (SPEC §12): valid 3.1, served as JSON, and listing exactly the routes."""

import re

import pytest
from django.apps import apps
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve
from openapi_spec_validator import validate

from portal.openapi import document

pytestmark = pytest.mark.django_db

BASES = ("/t/{tenant}/api/v1", "/orgs/{tenant}/api/v1")
SAMPLE = "sample"


def _app_installed(item) -> bool:
    app = item.get("x-tessera-app")
    return app is None or apps.is_installed(app)


def doc_paths() -> set[str]:
    """Every full path of the document (one per server), for the apps that are installed."""
    out = set()
    for name, item in document()["paths"].items():
        if not _app_installed(item):
            continue
        servers = item.get("servers") or document()["servers"]
        for server in servers:
            out.add(server["url"] + name)
    return out


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern)


def api_routes() -> set[str]:
    """The resolver's routes under /api/v1/ (tenant mounts and the root)."""
    routes = {"/" + r for r in _walk(get_resolver().url_patterns)}
    return {r for r in routes if re.match(r"^(/(t|orgs)/<str:tenant>)?/api/v1/", r)}


def _route_regex(route: str) -> re.Pattern:
    return re.compile(
        "^"
        + re.sub(
            r"<(?:\w+:)?\w+>", "[^/]+", re.escape(route).replace(r"\<", "<").replace(r"\>", ">")
        )
        + "$"
    )


def _sample(path: str) -> str:
    return re.sub(r"\{\w+\}", SAMPLE, path)


def test_the_document_is_valid_openapi_3_1():
    validate(document())
    assert document()["openapi"].startswith("3.1")


def test_it_is_served_as_json_without_authentication(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == document()


def test_every_documented_path_is_routed():
    unrouted = []
    for path in sorted(doc_paths()):
        try:
            resolve(_sample(path).replace("{tenant}", "acme-corp"))
        except Resolver404:
            unrouted.append(path)
    assert unrouted == []


def test_every_api_route_is_documented():
    routes = api_routes()
    assert {
        "/t/<str:tenant>/api/v1/admin/api-keys/bulk",
        "/orgs/<str:tenant>/api/v1/agents/me",
        "/api/v1/credentials/revoke",
    } <= routes
    samples = [_sample(p) for p in doc_paths()]
    missing = [
        route for route in sorted(routes) if not any(_route_regex(route).match(s) for s in samples)
    ]
    assert missing == []


# RFC 6749 §3.2 (RFC 7009 and 7662 follow it): these endpoints MUST ignore unrecognized parameters.
RFC_LOOSE = {"/oauth/token", "/oauth/refresh", "/oauth/introspect", "/oauth/revoke"}


def test_request_bodies_forbid_unknown_fields():
    loose = []
    for name, item in document()["paths"].items():
        for op in item.values():
            if not isinstance(op, dict) or "requestBody" not in op:
                continue
            for media in op["requestBody"]["content"].values():
                if media["schema"].get("additionalProperties") is not False:
                    loose.append(name)
    assert set(loose) == RFC_LOOSE


def test_the_response_check_catches_a_response_that_breaks_the_document(rf):
    from django.http import JsonResponse

    from tests import openapi_check

    request = rf.get("/t/acme-corp/api/v1/admin/api-keys")
    openapi_check.check(request, JsonResponse({"data": "not a list"}))
    openapi_check.check(request, JsonResponse({"error": "x"}, status=418))
    found = list(openapi_check.MISMATCHES)
    openapi_check.MISMATCHES.clear()
    assert len(found) == 2, found
    good = {"data": [], "hasMore": False, "nextCursor": None}
    openapi_check.check(request, JsonResponse(good))
    orgs = rf.get("/orgs/acme-corp/api/v1/admin/api-keys")
    openapi_check.check(orgs, JsonResponse(good))
    assert openapi_check.MISMATCHES == []

"""The product's URLs plus two benchmark-only endpoints under the same API mount.

- `bench/bare`: a JSON view with no authentication at all (the floor);
- `bench/ping`: the same view behind `tenant_view` (API key or session), making no query of
  its own, so any query counted on it is the authentication's;
- `bench/drf`: the peer, a DRF view behind djangorestframework-api-key's `HasAPIKey`, when the
  benchmark settings have it (`benchmarks/drf_peer.py`).
"""

from django.conf import settings
from django.http import JsonResponse
from django.urls import path

from access.decorators import tenant_view
from portal.urls import handler404, handler500  # noqa: F401
from portal.urls import urlpatterns as product_urlpatterns


def bare(request, tenant):
    return JsonResponse({"ok": True})


ping = tenant_view(scope="api_keys:read", methods=("GET",))(bare)

urlpatterns = [
    path("t/<str:tenant>/api/v1/bench/bare", bare, name="bench-bare"),
    path("t/<str:tenant>/api/v1/bench/ping", ping, name="bench-ping"),
    *product_urlpatterns,
]
if getattr(settings, "BENCH_DRF_PEER", False):
    from benchmarks import drf_peer

    urlpatterns.insert(0, path("t/<str:tenant>/api/v1/bench/drf", drf_peer.ping, name="bench-drf"))

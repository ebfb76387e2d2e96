"""URL mounts. Each app exports `portal_patterns` (under /t/<tenant>/portal/) and
`api_patterns` (under /t/<tenant>/api/v1/ and its alias /orgs/<tenant>/api/v1/); the same view
functions serve both, and the mount decides the representation."""

from django.urls import include, path

from agents import urls as agents_urls
from apikeys import leaks as apikeys_leaks
from apikeys import urls as apikeys_urls
from apikeys import verify as apikeys_verify
from audit import urls as audit_urls
from elevation import urls as elevation_urls
from oauth import urls as oauth_urls
from portal import metrics, openapi, views
from tenants import urls as tenants_urls
from webhooks import urls as webhooks_urls

APPS = (
    tenants_urls,
    apikeys_urls,
    apikeys_verify,
    oauth_urls,
    agents_urls,
    audit_urls,
    webhooks_urls,
    elevation_urls,
)

portal_patterns = [p for app in APPS for p in getattr(app, "portal_patterns", [])]
api_patterns = [p for app in APPS for p in getattr(app, "api_patterns", [])]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    *tenants_urls.root_patterns,
    *apikeys_leaks.root_patterns,
    *openapi.root_patterns,
    *oauth_urls.root_patterns,
    path("t/<str:tenant>/portal/", include((portal_patterns, "portal"))),
    path("t/<str:tenant>/api/v1/", include((api_patterns, "api"))),
    path("orgs/<str:tenant>/api/v1/", include((api_patterns, "api"), namespace="orgs-api")),
]

handler404 = "portal.views.not_found"
handler500 = "portal.views.server_error"

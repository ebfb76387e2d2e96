"""OAuth routes under `/t/<tenant>/api/v1/`; RFC 8414's path-inserted metadata URL is a root
route (`root_patterns`)."""

from django.urls import path

from oauth import views

api_patterns = [
    path("oauth/token", views.token, name="oauth-token"),
    path("oauth/refresh", views.refresh, name="oauth-refresh"),
    path("oauth/introspect", views.introspect, name="oauth-introspect"),
    path("oauth/revoke", views.revoke, name="oauth-revoke"),
    path("oauth/register", views.register, name="oauth-register"),
    path(".well-known/jwks.json", views.jwks, name="oauth-jwks"),
    path(
        ".well-known/oauth-authorization-server",
        views.metadata,
        name="oauth-metadata",
    ),
]

root_patterns = [
    path(
        ".well-known/oauth-authorization-server/t/<str:tenant>/api/v1",
        views.metadata,
        name="oauth-metadata-rfc8414",
    ),
]

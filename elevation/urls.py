from django.urls import path

from elevation import views

R = "grant-requests/<str:request_id>"


def _admin_patterns(prefix):
    return [
        path(f"{prefix}grant-requests", views.grant_request_list, name="grant-requests"),
        path(f"{prefix}{R}/approve", views.grant_request_approve, name="grant-request-approve"),
        path(f"{prefix}{R}/deny", views.grant_request_deny, name="grant-request-deny"),
    ]


portal_patterns = _admin_patterns("")

api_patterns = [
    *_admin_patterns("admin/"),
    path("agents/me/grant-requests", views.me_grant_requests, name="me-grant-requests"),
    path(f"agents/me/{R}", views.me_grant_request, name="me-grant-request"),
]

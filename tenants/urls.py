from allauth.account import views as allauth_views
from django.urls import include, path
from django.views.generic import RedirectView

from tenants import settings_views, views

root_patterns = [
    path("", views.tenant_picker, name="tenant-picker"),
    # Signing in is django-allauth's (under /accounts/); the portal's own addresses stay.
    path("login", views.login_view, name="login"),
    path("logout", allauth_views.logout, name="logout"),
    path("account/password", allauth_views.password_change, name="password-change"),
    path("invitations/accept", views.accept_invitation, name="invitation-accept"),
    path("invitations/<str:token>", views.open_invitation, name="invitation-open"),
    path("accounts/sessions/<int:session_id>/end", views.end_session, name="usersession-end"),
    path("accounts/login/", RedirectView.as_view(url="/login", query_string=True)),
    path("accounts/", include("allauth.urls")),
]

portal_patterns = [
    path("", views.overview, name="overview"),
    path("settings", settings_views.tenant_settings, name="settings"),
    path("settings/members", views.members, name="members"),
    path("settings/members/<str:membership_id>/role", views.member_role, name="member-role"),
    path("settings/members/<str:membership_id>/remove", views.member_remove, name="member-remove"),
    path(
        "settings/members/invitations/<str:invitation_id>/resend",
        views.invitation_resend,
        name="invitation-resend",
    ),
    path(
        "settings/members/invitations/<str:invitation_id>/cancel",
        views.invitation_cancel,
        name="invitation-cancel",
    ),
]

api_patterns = [
    path("admin/settings", settings_views.tenant_settings, name="tenant-settings"),
]

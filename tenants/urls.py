from django.urls import path

from tenants import settings_views, views

root_patterns = [
    path("", views.tenant_picker, name="tenant-picker"),
    path("login", views.login_view, name="login"),
    path("logout", views.logout_view, name="logout"),
    path("account/password", views.password_change, name="password-change"),
]

portal_patterns = [
    path("", views.overview, name="overview"),
    path("settings", settings_views.tenant_settings, name="settings"),
    path("settings/members", views.members, name="members"),
    path(
        "settings/members/<str:membership_id>/<str:action>",
        views.member_action,
        name="member-action",
    ),
]

api_patterns = [
    path("admin/settings", settings_views.tenant_settings, name="tenant-settings"),
]

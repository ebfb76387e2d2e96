"""Agents, roles and grants: the same views under the portal and the admin API; the agent
runtime API (`/agents/me...`) under the API mount only."""

from django.urls import path

from agents import views

A = "agents/<str:agent_id>"


def _agent_patterns(prefix):
    """Routes shared by `/t/<tenant>/portal/agents...` and `/t/<tenant>/api/v1/admin/agents...`;
    the specific ones come before the catch-all `<action>`."""
    a = prefix + A
    return [
        path(f"{prefix}agents", views.agent_list, name="agents"),
        path(a, views.agent_detail, name="agent"),
        path(f"{a}/rotate-key", views.agent_rotate_key, name="agent-rotate-key"),
        path(f"{a}/keys", views.agent_keys, name="agent-keys"),
        path(
            f"{a}/keys/<str:key_id>/<str:action>",
            views.agent_key_action,
            name="agent-key-action",
        ),
        path(f"{a}/grants", views.agent_grants, name="agent-grants"),
        path(f"{a}/grants/<str:grant_id>", views.agent_grant, name="agent-grant"),
        path(
            f"{a}/grants/<str:grant_id>/revoke",
            views.agent_grant_revoke,
            name="agent-grant-revoke",
        ),
        path(f"{a}/<str:action>", views.agent_action, name="agent-action"),
        path(f"{prefix}roles", views.role_list, name="roles"),
        path(f"{prefix}roles/<str:slug>", views.role_detail, name="role"),
    ]


portal_patterns = [
    *_agent_patterns(""),
    path("roles/<str:slug>/delete", views.role_delete, name="role-delete"),
]

api_patterns = [
    *_agent_patterns("admin/"),
    path("agents/me", views.me, name="me"),
    path("agents/me/usage", views.me_usage, name="me-usage"),
    path("agents/me/grants", views.me_grants, name="me-grants"),
    path("agents/me/rotate", views.me_rotate, name="me-rotate"),
    path("agents/me/deactivate", views.me_deactivate, name="me-deactivate"),
]

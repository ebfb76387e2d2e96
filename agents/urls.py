"""Agents, roles and grants: the same views under the portal and the admin API; the agent
runtime API (`/agents/me...`) under the API mount only."""

from django.urls import path

from agents.views import agents, grants, keys, roles, runtime, tokens

A = "agents/<str:agent_id>"


def _agent_patterns(prefix):
    """Routes shared by `/t/<tenant>/portal/agents...` and `/t/<tenant>/api/v1/admin/agents...`."""
    a = prefix + A
    k = f"{a}/keys/<str:key_id>"
    return [
        path(f"{prefix}agents", agents.agent_list, name="agents"),
        path(a, agents.agent_detail, name="agent"),
        path(f"{a}/activate", agents.agent_activate, name="agent-activate"),
        path(f"{a}/deactivate", agents.agent_deactivate, name="agent-deactivate"),
        path(f"{a}/rotate-key", keys.agent_rotate_key, name="agent-rotate-key"),
        path(f"{a}/keys", keys.agent_keys, name="agent-keys"),
        path(f"{k}/rotate", keys.agent_key_rotate, name="agent-key-rotate"),
        path(f"{k}/deprecate", keys.agent_key_deprecate, name="agent-key-deprecate"),
        path(f"{k}/activate", keys.agent_key_activate, name="agent-key-activate"),
        path(f"{k}/revoke", keys.agent_key_revoke, name="agent-key-revoke"),
        path(f"{k}/delete", keys.agent_key_delete, name="agent-key-delete"),
        path(f"{a}/revoke-tokens", tokens.agent_revoke_tokens, name="agent-revoke-tokens"),
        path(f"{a}/grants", grants.agent_grants, name="agent-grants"),
        path(f"{a}/grants/<str:grant_id>", grants.agent_grant, name="agent-grant"),
        path(
            f"{a}/grants/<str:grant_id>/revoke",
            grants.agent_grant_revoke,
            name="agent-grant-revoke",
        ),
        path(f"{prefix}roles", roles.role_list, name="roles"),
        path(f"{prefix}roles/<str:slug>", roles.role_detail, name="role"),
    ]


# The portal deletes with a form post (the API with DELETE on the agent or role).
portal_patterns = [
    *_agent_patterns(""),
    path(f"{A}/delete", agents.agent_delete, name="agent-delete"),
    path("roles/<str:slug>/delete", roles.role_delete, name="role-delete"),
]

api_patterns = [
    *_agent_patterns("admin/"),
    path("agents/me", runtime.me, name="me"),
    path("agents/me/usage", runtime.me_usage, name="me-usage"),
    path("agents/me/grants", runtime.me_grants, name="me-grants"),
    path("agents/me/rotate", runtime.me_rotate, name="me-rotate"),
    path("agents/me/deactivate", runtime.me_deactivate, name="me-deactivate"),
]

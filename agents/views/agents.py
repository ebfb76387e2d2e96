"""Agents: the list (and creation), the agent page and its edits, and switching an agent on or
off; each serves the portal page, its HTMX fragments and the JSON API."""

from access.decorators import tenant_view
from agents import serializers, services
from agents.forms import AgentFilterForm, CreateAgentForm, PortalDeleteAgentForm, UpdateAgentForm
from agents.views.pages import (
    DETAIL,
    LIST,
    detail_context,
    detail_page,
    filtered_agents,
    get_agent,
    list_context,
    list_page,
    portal_url,
)
from apikeys.forms import EmptyForm, quota_changes
from idempotency.decorators import idempotent
from portal import once
from portal.pagination import paginate
from portal.respond import notify, respond
from portal.validation import parse_query, validate

# JSON field → service keyword, for create and for PUT/PATCH.
AGENT_FIELDS = {
    "name": "name",
    "type": "type",
    "description": "description",
    "roles": "roles",
    "permissions": "permissions",
    "allowedIps": "allowed_ips",
    "rateLimitPerMinute": "rate_limit_per_minute",
    "isActive": "is_active",
    "meta": "meta",
}


def agent_changes(data: dict, provided) -> dict:
    """The service keywords for the fields the client sent (expiresAt|expiresIn → expires_at)."""
    changes = {kw: data[field] for field, kw in AGENT_FIELDS.items() if field in provided}
    if "quota" in provided:
        changes.update(quota_changes(data["quota"]))
    if "keyPermissions" in provided:
        changes["key_permissions"] = data["keyPermissions"]
    if {"expiresAt", "expiresIn"} & set(provided):
        changes["expires_at"] = data["expires_at"]
    return changes


@tenant_view(scope="agents:read", write_scope="agents:write", page=list_page)
@idempotent
def agent_list(request, tenant):
    """GET: list agents (filter by type, isActive). POST: create an agent and its first key."""
    if request.method == "POST":
        data, _ = validate(CreateAgentForm, request)
        with once.claimed(request):
            agent, key, secret = services.create_agent(
                tenant, request.actor, **agent_changes(data, set(data))
            )
        return respond(
            request,
            f"{LIST}#agent-area",
            lambda: list_context(request, tenant, created=agent, minted=key, secret=secret),
            json=lambda: serializers.agent(get_agent(tenant, agent.pk), secret=secret),
            status=201,
            secret=True,
        )
    return respond(
        request,
        f"{LIST}#agent-table",
        lambda: list_context(request, tenant),
        json=lambda: paginate(
            request, filtered_agents(tenant, parse_query(request, AgentFilterForm))
        ).as_json(serializers.agent),
    )


@tenant_view(
    scope="agents:read",
    write_scope="agents:write",
    methods=("GET", "POST", "PUT", "PATCH", "DELETE"),
    api_only=("PUT", "PATCH", "DELETE"),
    page=detail_page,
)
def agent_detail(request, tenant, agent_id):
    """GET the agent; PUT/PATCH (or a portal form post) update it; DELETE removes it."""
    agent = get_agent(tenant, agent_id, with_grants=True)
    unchanged = agent if request.method == "GET" else None
    if request.method == "DELETE":
        validate(EmptyForm, request)
        services.delete_agent(tenant, request.actor, agent)
        return respond(request, status=204)
    if request.method != "GET":
        data, form = validate(UpdateAgentForm, request)
        agent = services.update_agent(
            tenant, request.actor, agent, **agent_changes(data, form.provided)
        )
        notify(request, f"Agent “{agent.name}” saved.")
    return respond(
        request,
        f"{DETAIL}#agent-summary",
        lambda: detail_context(request, tenant, agent.pk, agent=unchanged),
        json=lambda: serializers.agent(unchanged or get_agent(tenant, agent.pk)),
        redirect=portal_url("agent", tenant, agent_id=agent.pk)
        if request.method != "GET"
        else None,
    )


@tenant_view(scope="agents:write", methods=("POST",), page=detail_page)
def agent_activate(request, tenant, agent_id):
    """POST .../activate (portal and API)."""
    return _set_active(request, tenant, agent_id, active=True)


@tenant_view(scope="agents:write", methods=("POST",), page=detail_page)
def agent_deactivate(request, tenant, agent_id):
    """POST .../deactivate (portal and API): from now on every key of the agent answers 401."""
    return _set_active(request, tenant, agent_id, active=False)


def _set_active(request, tenant, agent_id, *, active):
    agent = get_agent(tenant, agent_id)
    validate(EmptyForm, request)
    agent = services.set_agent_active(tenant, request.actor, agent, active)
    notify(request, f"Agent “{agent.name}” {'activated' if active else 'deactivated'}.")
    return respond(
        request,
        f"{DETAIL}#agent-summary",
        lambda: detail_context(request, tenant, agent.pk),
        json=lambda: serializers.agent(get_agent(tenant, agent.pk)),
        redirect=portal_url("agent", tenant, agent_id=agent.pk),
    )


@tenant_view(scope="agents:write", methods=("POST",), page=detail_page)
def agent_delete(request, tenant, agent_id):
    """POST .../delete: the portal's form, where the admin types the agent's name (the API
    deletes with DELETE on the agent)."""
    agent = get_agent(tenant, agent_id)
    _, form = validate(PortalDeleteAgentForm, request)
    form.check_confirmation(agent.name)
    services.delete_agent(tenant, request.actor, agent)
    notify(request, f"Agent “{agent.name}” and its keys deleted.")
    return respond(
        request,
        f"{LIST}#agent-table",
        lambda: list_context(request, tenant),
        status=204,
        redirect=portal_url("agents", tenant),
    )

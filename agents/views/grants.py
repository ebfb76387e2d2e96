"""An agent's just-in-time grants: list, grant, look at one, revoke."""

from access.decorators import get_or_404, tenant_view
from agents import serializers, services
from agents.forms import GrantForm
from agents.views.pages import DETAIL, detail_context, detail_page, get_agent, portal_url
from apikeys.forms import EmptyForm
from idempotency.decorators import idempotent
from portal.pagination import paginate
from portal.respond import notify, respond
from portal.validation import validate


@tenant_view(scope="agents:read", write_scope="agents:write", page=detail_page)
@idempotent
def agent_grants(request, tenant, agent_id):
    """GET: the agent's grants (expired ones flagged). POST: a just-in-time grant."""
    agent = get_agent(tenant, agent_id)
    if request.method == "POST":
        data, _ = validate(GrantForm, request)
        grant = services.create_grant(
            tenant,
            request.actor,
            agent,
            permission=data["permission"],
            expires_at=data["expires_at"],
            reason=data["reason"] or "",
        )
        notify(request, f"Granted {grant.permission} to “{agent.name}”.")
        return respond(
            request,
            f"{DETAIL}#agent-access",
            lambda: detail_context(request, tenant, agent.pk),
            json=lambda: serializers.grant(grant),
            status=201,
            redirect=portal_url("agent", tenant, agent_id=agent.pk),
        )
    return respond(
        request,
        f"{DETAIL}#agent-access",
        lambda: detail_context(request, tenant, agent.pk),
        json=lambda: paginate(request, agent.grants.all()).as_json(serializers.grant),
    )


@tenant_view(
    scope="agents:read",
    write_scope="agents:write",
    methods=("GET", "DELETE"),
    api_only=("DELETE",),
    page=detail_page,
)
def agent_grant(request, tenant, agent_id, grant_id):
    """GET one grant; DELETE (API) revokes it."""
    return _grant_response(request, tenant, agent_id, grant_id)


@tenant_view(scope="agents:write", methods=("POST",), page=detail_page)
def agent_grant_revoke(request, tenant, agent_id, grant_id):
    """POST .../grants/<gid>/revoke: the portal's form for revoking a grant."""
    return _grant_response(request, tenant, agent_id, grant_id)


def _grant_response(request, tenant, agent_id, grant_id):
    agent = get_agent(tenant, agent_id)
    grant = get_or_404(tenant.grants.filter(agent=agent), pk=grant_id)
    if request.method != "GET":
        validate(EmptyForm, request)
        services.revoke_grant(tenant, request.actor, grant)
        notify(request, f"Grant of {grant.permission} revoked.")
    return respond(
        request,
        f"{DETAIL}#agent-access",
        lambda: detail_context(request, tenant, agent.pk),
        json=lambda: serializers.grant(grant),
        status=200 if request.method == "GET" else 204,
        redirect=portal_url("agent", tenant, agent_id=agent.pk)
        if request.method != "GET"
        else None,
    )

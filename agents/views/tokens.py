"""The agent's OAuth tokens: "Revoke all tokens" on the agent page, and `revoke-tokens` in the
admin API (SPEC §10)."""

from django.template.defaultfilters import pluralize
from django.urls import reverse

from access.decorators import tenant_view
from agents.views import pages
from apikeys.forms import EmptyForm
from oauth import services as oauth_services
from portal.respond import notify, respond
from portal.validation import validate


@tenant_view(scope="agents:write", methods=("POST",), page=pages.detail_page)
def agent_revoke_tokens(request, tenant, agent_id):
    """Every access and refresh token of the agent stops working now (API, and the portal's
    "Revoke all tokens" on the agent page)."""
    agent = pages.get_agent(tenant, agent_id)
    validate(EmptyForm, request)
    count = oauth_services.revoke_agent_tokens(tenant, request.actor, agent)
    notify(request, f"Every token of “{agent.name}” revoked ({count} grant{pluralize(count)}).")
    return respond(
        request,
        f"{pages.DETAIL}#agent-oauth",
        lambda: pages.detail_context(request, tenant, agent.pk),
        json={"agentId": str(agent.pk), "revokedGrants": count},
        redirect=reverse("portal:agent", kwargs={"tenant": tenant.slug, "agent_id": agent.pk}),
    )

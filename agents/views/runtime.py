"""The agent runtime API (`/agents/me...`): agent keys only, under the API mount only."""

from access.decorators import tenant_view
from access.rules import access_set
from agents import charts, serializers, services
from agents.models import Agent
from agents.views.pages import get_agent
from apikeys.forms import EmptyForm, RotateForm
from apikeys.serializers import key as key_json
from portal.respond import respond
from portal.validation import validate


def _me(request, tenant, *, with_grants=False) -> Agent:
    return get_agent(tenant, request.actor.agent.pk, with_grants=with_grants)


@tenant_view(api="agent", methods=("GET",))
def me(request, tenant):
    """The calling agent and its keys (no secrets); `keyPermissions`, what the calling key may
    do now, and the agent's `quota` with its use in the current period (SPEC §15)."""
    key = request.actor.key
    # With Redis, authentication read the agent's roles and grants with the key (access.shared):
    # they are not read again.
    return respond(
        request,
        json=lambda: serializers.me(_me(request, tenant, with_grants=key.access is None), key),
    )


@tenant_view(api="agent", methods=("GET",))
def me_usage(request, tenant):
    """Requests over the last 30 days: total, per key and per day."""
    return respond(request, json=serializers.usage(charts.usage_summary(_me(request, tenant))))


@tenant_view(api="agent", methods=("GET",))
def me_grants(request, tenant):
    """The merged access set, each permission with its source and expiry."""
    agent = _me(request, tenant, with_grants=True)
    return respond(
        request,
        json={"data": [serializers.access_entry(e) for e in access_set(agent)]},
    )


@tenant_view(api="agent", methods=("POST",), manages_self=True)
def me_rotate(request, tenant):
    """Replace the calling key; the old one is revoked, or deprecated for `gracePeriod`."""
    data, _ = validate(RotateForm, request)
    key, secret = services.rotate_agent_keys(
        tenant,
        request.actor,
        request.actor.agent,
        key_id=request.actor.key.pk,
        grace_period=data["gracePeriod"] or 0,
    )
    return respond(request, json=key_json(key, secret=secret), status=201, secret=True)


@tenant_view(api="agent", methods=("POST",), manages_self=True)
def me_deactivate(request, tenant):
    """Switch the calling agent off: from now on every key of it answers 401."""
    validate(EmptyForm, request)
    agent = services.set_agent_active(tenant, request.actor, request.actor.agent, False)
    return respond(request, json=serializers.agent(get_agent(tenant, agent.pk)))

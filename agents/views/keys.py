"""An agent's keys: minting, rotating and each key's lifecycle (deprecate, activate, revoke,
delete) through the same key services as the API keys page."""

from access.decorators import get_or_404, tenant_view
from agents import services
from agents.forms import MintAgentKeyForm, PortalRotateAllForm, RotateAgentKeyForm
from agents.views.pages import DETAIL, detail_context, detail_page, get_agent, portal_url
from apikeys import services as key_services
from apikeys.forms import EmptyForm, RevokeForm, RotateForm, quota_changes
from apikeys.serializers import key as key_json
from idempotency.decorators import idempotent
from portal import once
from portal.pagination import paginate
from portal.respond import notify, respond
from portal.validation import validate


def _minted(request, tenant, agent, key, secret, **extra):
    """A new key, shown once: in the keys fragment / page, or as JSON with `apiKey`."""
    return respond(
        request,
        f"{DETAIL}#agent-keys",
        lambda: detail_context(request, tenant, agent.pk, minted=key, secret=secret, **extra),
        json=lambda: key_json(key, secret=secret),
        status=201,
        secret=True,
        redirect=portal_url("agent", tenant, agent_id=agent.pk),
    )


@tenant_view(scope="agents:write", methods=("POST",), page=detail_page)
def agent_rotate_key(request, tenant, agent_id):
    """Replace one key (keyId) or every live key of the agent by one new key."""
    agent = get_agent(tenant, agent_id)
    data, form = validate(RotateAgentKeyForm if request.is_api else PortalRotateAllForm, request)
    if not request.is_api and data["keyId"] is None:
        form.check_confirmation(agent.name)  # every live key at once: the admin types the name
    with once.claimed(request):
        key, secret = services.rotate_agent_keys(
            tenant,
            request.actor,
            agent,
            key_id=data["keyId"],
            grace_period=data["gracePeriod"] or 0,
        )
    return _minted(request, tenant, agent, key, secret, rotated=key.rotated_from)


@tenant_view(scope="agents:read", write_scope="agents:write", page=detail_page)
@idempotent
def agent_keys(request, tenant, agent_id):
    """GET: the agent's keys. POST: mint another key for it."""
    agent = get_agent(tenant, agent_id)
    if request.method == "POST":
        data, _ = validate(MintAgentKeyForm, request)
        with once.claimed(request):
            key, secret = services.mint_agent_key(
                tenant,
                request.actor,
                agent,
                name=data["name"],
                expires_at=data["expires_at"],
                rate_limit_per_minute=data["rateLimitPerMinute"],
                allowed_ips=data["allowedIps"],
                meta=data["meta"],
                permissions=data["permissions"],
                **quota_changes(data["quota"]),
            )
        return _minted(request, tenant, agent, key, secret)
    return respond(
        request,
        f"{DETAIL}#agent-keys",
        lambda: detail_context(request, tenant, agent.pk),
        json=lambda: paginate(request, tenant.api_keys.filter(agent=agent)).as_json(key_json),
    )


# --- one key: POST .../keys/<key_id>/rotate|deprecate|activate|revoke|delete ------------------


def _agent_key(request, tenant, agent_id, key_id, form):
    """The agent, one of its keys (another agent's is a 404) and the posted body."""
    agent = get_agent(tenant, agent_id)
    key = get_or_404(tenant.api_keys.filter(agent=agent), pk=key_id)
    data, _ = validate(form, request)
    return agent, key, data


def _key_changed(request, tenant, agent, key, done, *, deleted=False):
    """The agent's keys again after `key` was `done` (deprecated, revoked…); 204 once deleted."""
    notify(request, f"Key {key.prefix} {done}.")
    return respond(
        request,
        f"{DETAIL}#agent-keys",
        lambda: detail_context(request, tenant, agent.pk),
        json=lambda: None if deleted else key_json(key),
        status=204 if deleted else 200,
        redirect=portal_url("agent", tenant, agent_id=agent.pk),
    )


@tenant_view(scope="agents:write", methods=("POST",), page=detail_page)
def agent_key_rotate(request, tenant, agent_id, key_id):
    agent, key, data = _agent_key(request, tenant, agent_id, key_id, RotateForm)
    new_key, secret = services.rotate_agent_keys(
        tenant, request.actor, agent, key_id=key.pk, grace_period=data["gracePeriod"] or 0
    )
    return _minted(request, tenant, agent, new_key, secret, rotated=new_key.rotated_from)


@tenant_view(scope="agents:write", methods=("POST",), page=detail_page)
def agent_key_deprecate(request, tenant, agent_id, key_id):
    agent, key, _ = _agent_key(request, tenant, agent_id, key_id, EmptyForm)
    key = key_services.deprecate_key(tenant, request.actor, key)
    return _key_changed(request, tenant, agent, key, "deprecated")


@tenant_view(scope="agents:write", methods=("POST",), page=detail_page)
def agent_key_activate(request, tenant, agent_id, key_id):
    agent, key, _ = _agent_key(request, tenant, agent_id, key_id, EmptyForm)
    key = key_services.activate_key(tenant, request.actor, key)
    return _key_changed(request, tenant, agent, key, "activated")


@tenant_view(scope="agents:write", methods=("POST",), page=detail_page)
def agent_key_revoke(request, tenant, agent_id, key_id):
    agent, key, data = _agent_key(request, tenant, agent_id, key_id, RevokeForm)
    key = key_services.revoke_key(tenant, request.actor, key, reason=data["reason"] or "")
    return _key_changed(request, tenant, agent, key, "revoked")


@tenant_view(scope="agents:write", methods=("POST",), page=detail_page)
def agent_key_delete(request, tenant, agent_id, key_id):
    agent, key, _ = _agent_key(request, tenant, agent_id, key_id, EmptyForm)
    key_services.delete_key(tenant, request.actor, key)
    return _key_changed(request, tenant, agent, key, "deleted", deleted=True)

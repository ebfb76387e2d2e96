"""Agent, role and grant views: each serves the portal page, its HTMX fragments and the JSON API.

The agent runtime API (`/agents/me...`) is at the end: agent keys only.
"""

from django.db.models import Prefetch, Q
from django.urls import reverse
from django.utils import timezone

from access.decorators import get_or_404, tenant_view
from access.ratelimit import quota_status
from access.rules import access_set
from agents import charts, serializers, services
from agents.forms import (
    AGENT_EXPIRY_CHOICES,
    GRANT_DURATION_CHOICES,
    AgentFilterForm,
    CreateAgentForm,
    GrantForm,
    MintAgentKeyForm,
    PortalDeleteAgentForm,
    PortalRotateAllForm,
    RoleForm,
    RotateAgentKeyForm,
    UpdateAgentForm,
    UpdateRoleForm,
)
from agents.models import Agent, Grant, Role
from apikeys import services as key_services
from apikeys.forms import (
    DEFAULT_GRACE,
    GRACE_CHOICES,
    EmptyForm,
    RevokeForm,
    RotateForm,
    quota_changes,
)
from apikeys.models import ApiKey
from apikeys.search import key_search
from apikeys.serializers import key as key_json
from oauth import services as oauth_services
from portal import once
from portal.errors import NotFound
from portal.pagination import paginate
from portal.respond import notify, respond
from portal.validation import parse_query, validate

LIST = "agents/agent_list.html"
DETAIL = "agents/agent_detail.html"
ROLES = "agents/role_list.html"
EVENTS_SHOWN = 20

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


# --- querysets ----------------------------------------------------------------------------


def agents_queryset(tenant, *, with_grants=False):
    """Agents of `tenant` with what their JSON and table rows read, in a fixed number of queries."""
    prefetch = [
        Prefetch("roles", queryset=Role.objects.order_by("slug")),
        Prefetch("keys", queryset=ApiKey.objects.order_by("-created_at", "-id")),
    ]
    if with_grants:
        prefetch.append(Prefetch("grants", queryset=Grant.objects.order_by("-created_at", "-id")))
    return tenant.agents.prefetch_related(*prefetch)


def filtered_agents(tenant, filters):
    """The one queryset behind the agents table and `GET /agents`."""
    qs = agents_queryset(tenant)
    if filters.get("type"):
        qs = qs.filter(type=filters["type"])
    if filters.get("isActive") is not None:
        qs = qs.filter(is_active=filters["isActive"])
    if filters.get("q", "").strip():
        # By name, or by the name, note or prefix of one of its keys (a subquery: no duplicates).
        keys = tenant.api_keys.filter(key_search(filters["q"])).values("agent_id")
        qs = qs.filter(Q(name__icontains=filters["q"].strip()) | Q(pk__in=keys))
    return qs


def get_agent(tenant, agent_id, *, with_grants=False) -> Agent:
    return get_or_404(agents_queryset(tenant, with_grants=with_grants), pk=agent_id)


def recent_events(tenant, agent, keys, grants):
    """The agent's last events: about it, its keys and grants, or done by it."""
    ids = [str(agent.pk), *(str(k.pk) for k in keys), *(str(g.pk) for g in grants)]
    return list(
        tenant.audit_events.filter(
            Q(target_id__in=ids) | Q(actor_id=str(agent.pk)) | Q(metadata__agentId=str(agent.pk))
        )[:EVENTS_SHOWN]
    )


# --- contexts -----------------------------------------------------------------------------


def _choices():
    return {
        "type_choices": Agent.Type.choices,
        "expiry_choices": AGENT_EXPIRY_CHOICES,
        "grace_choices": GRACE_CHOICES,
        "default_grace": DEFAULT_GRACE,
        "duration_choices": GRANT_DURATION_CHOICES,
    }


def list_context(request, tenant, **extra):
    filters = parse_query(request, AgentFilterForm)
    page = paginate(request, filtered_agents(tenant, filters))
    return {
        "page": page,
        "agents": page.rows,
        "filters": filters,
        "tenant_roles": list(tenant.roles.order_by("slug")),
        # A refused form shows the roles that were ticked again; a created agent's do not
        # carry over to the next agent.
        "selected_roles": (
            request.POST.getlist("roles")
            if request.method == "POST" and "created" not in extra
            else []
        ),
        **_choices(),
        **extra,
    }


def detail_context(request, tenant, agent_id, *, agent=None, **extra):
    """The agent page; `agent` may be passed when just fetched (with grants) and unchanged."""
    agent = agent or get_agent(tenant, agent_id, with_grants=True)
    now = timezone.now()
    keys = list(agent.keys.all())
    grants = list(agent.grants.all())
    summary = charts.usage_summary(agent)
    return {
        "agent": agent,
        "keys": keys,
        "live_key_count": sum(1 for k in keys if k.is_live),
        "grants": grants,
        "now": now,
        "access": access_set(agent, now),
        "agent_role_slugs": {role.slug for role in agent.roles.all()},
        "tenant_roles": list(tenant.roles.order_by("slug")),
        "usage": summary,
        "chart": charts.bar_chart(summary["daily"]),
        "events": recent_events(tenant, agent, keys, grants),
        "oauth": oauth_services.client_summary(tenant, agent),
        "agent_quota": quota_status(agent),
        **_choices(),
        **extra,
    }


def roles_context(request, tenant, **extra):
    page = paginate(request, tenant.roles.prefetch_related("agents"))
    return {"page": page, "roles": page.rows, **extra}


def _list_page(request):
    return LIST, list_context(request, request.tenant)


def detail_page(request):
    return DETAIL, detail_context(
        request, request.tenant, request.resolver_match.kwargs["agent_id"]
    )


def _roles_page(request):
    return ROLES, roles_context(request, request.tenant)


def _url(name, tenant, **kwargs):
    return reverse(f"portal:{name}", kwargs={"tenant": tenant.slug, **kwargs})


# --- agents -------------------------------------------------------------------------------


@tenant_view(scope="agents:read", write_scope="agents:write", page=_list_page)
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
        redirect=_url("agent", tenant, agent_id=agent.pk) if request.method != "GET" else None,
    )


@tenant_view(scope="agents:write", methods=("POST",), page=detail_page)
def agent_action(request, tenant, agent_id, action):
    """POST .../activate|deactivate (portal and API), .../delete (portal form)."""
    if action not in ("activate", "deactivate", "delete") or (
        action == "delete" and request.is_api
    ):
        raise NotFound()
    agent = get_agent(tenant, agent_id)
    if action == "delete":
        _, form = validate(PortalDeleteAgentForm, request)
        form.check_confirmation(agent.name)
        services.delete_agent(tenant, request.actor, agent)
        notify(request, f"Agent “{agent.name}” and its keys deleted.")
        return respond(
            request,
            f"{LIST}#agent-table",
            lambda: list_context(request, tenant),
            status=204,
            redirect=_url("agents", tenant),
        )
    validate(EmptyForm, request)
    agent = services.set_agent_active(tenant, request.actor, agent, action == "activate")
    notify(request, f"Agent “{agent.name}” {action}d.")
    return respond(
        request,
        f"{DETAIL}#agent-summary",
        lambda: detail_context(request, tenant, agent.pk),
        json=lambda: serializers.agent(get_agent(tenant, agent.pk)),
        redirect=_url("agent", tenant, agent_id=agent.pk),
    )


# --- agent keys ---------------------------------------------------------------------------


def _minted(request, tenant, agent, key, secret, **extra):
    """A new key, shown once: in the keys fragment / page, or as JSON with `apiKey`."""
    return respond(
        request,
        f"{DETAIL}#agent-keys",
        lambda: detail_context(request, tenant, agent.pk, minted=key, secret=secret, **extra),
        json=lambda: key_json(key, secret=secret),
        status=201,
        secret=True,
        redirect=_url("agent", tenant, agent_id=agent.pk),
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


KEY_ACTIONS = {
    "rotate": RotateForm,
    "deprecate": EmptyForm,
    "activate": EmptyForm,
    "revoke": RevokeForm,
    "delete": EmptyForm,
}


@tenant_view(scope="agents:write", methods=("POST",), page=detail_page)
def agent_key_action(request, tenant, agent_id, key_id, action):
    """POST .../keys/<key_id>/rotate|deprecate|activate|revoke|delete on one of the agent's keys,
    through the same key services as the API keys page."""
    if action not in KEY_ACTIONS:
        raise NotFound()
    agent = get_agent(tenant, agent_id)
    key = get_or_404(tenant.api_keys.filter(agent=agent), pk=key_id)
    data, _ = validate(KEY_ACTIONS[action], request)
    if action == "rotate":
        new_key, secret = services.rotate_agent_keys(
            tenant, request.actor, agent, key_id=key.pk, grace_period=data["gracePeriod"] or 0
        )
        return _minted(request, tenant, agent, new_key, secret, rotated=new_key.rotated_from)
    if action == "delete":
        key_services.delete_key(tenant, request.actor, key)
    elif action == "revoke":
        key = key_services.revoke_key(tenant, request.actor, key, reason=data["reason"] or "")
    else:
        key = getattr(key_services, f"{action}_key")(tenant, request.actor, key)
    notify(request, f"Key {key.prefix} {action}d.")
    return respond(
        request,
        f"{DETAIL}#agent-keys",
        lambda: detail_context(request, tenant, agent.pk),
        json=lambda: None if action == "delete" else key_json(key),
        status=204 if action == "delete" else 200,
        redirect=_url("agent", tenant, agent_id=agent.pk),
    )


# --- grants -------------------------------------------------------------------------------


@tenant_view(scope="agents:read", write_scope="agents:write", page=detail_page)
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
            redirect=_url("agent", tenant, agent_id=agent.pk),
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
        redirect=_url("agent", tenant, agent_id=agent.pk) if request.method != "GET" else None,
    )


# --- roles --------------------------------------------------------------------------------


@tenant_view(scope="roles:read", write_scope="roles:write", page=_roles_page)
def role_list(request, tenant):
    """GET: list roles. POST: create one."""
    if request.method == "POST":
        data, _ = validate(RoleForm, request)
        role = services.create_role(
            tenant,
            request.actor,
            name=data["name"],
            slug=data["slug"],
            permissions=data["permissions"],
        )
        notify(request, f"Role “{role.slug}” created.")
        return respond(
            request,
            f"{ROLES}#role-area",
            lambda: roles_context(request, tenant),
            json=lambda: serializers.role(role),
            status=201,
            redirect=_url("roles", tenant),
        )
    return respond(
        request,
        f"{ROLES}#role-area",
        lambda: roles_context(request, tenant),
        json=lambda: paginate(request, tenant.roles.all()).as_json(serializers.role),
    )


def _delete_role(request, tenant, role):
    """`?force=true` takes the role away from the agents holding it; without it, 409 if any do."""
    services.delete_role(
        tenant, request.actor, role, force=request.GET.get("force", "").lower() == "true"
    )
    notify(request, f"Role “{role.slug}” deleted.")
    return respond(
        request,
        f"{ROLES}#role-area",
        lambda: roles_context(request, tenant),
        status=204,
        redirect=_url("roles", tenant),
    )


@tenant_view(
    scope="roles:read",
    write_scope="roles:write",
    methods=("GET", "POST", "PUT", "PATCH", "DELETE"),
    api_only=("PUT", "PATCH", "DELETE"),
    page=_roles_page,
)
def role_detail(request, tenant, slug):
    """GET one role; PUT/PATCH (or a portal form post) update it; DELETE removes it."""
    role = get_or_404(tenant.roles.all(), slug=slug)
    if request.method == "DELETE":
        validate(EmptyForm, request)
        return _delete_role(request, tenant, role)
    if request.method != "GET":
        data, form = validate(UpdateRoleForm, request)
        role = services.update_role(
            tenant, request.actor, role, **{f: data[f] for f in form.provided}
        )
        notify(request, f"Role “{role.slug}” saved.")
    return respond(
        request,
        f"{ROLES}#role-area",
        lambda: roles_context(request, tenant, editing=role),
        json=lambda: serializers.role(role),
        redirect=_url("roles", tenant) if request.method != "GET" else None,
    )


@tenant_view(scope="roles:write", methods=("POST",), page=_roles_page)
def role_delete(request, tenant, slug):
    """Portal form: POST .../roles/<slug>/delete[?force=true]."""
    role = get_or_404(tenant.roles.all(), slug=slug)
    validate(EmptyForm, request)
    return _delete_role(request, tenant, role)


# --- agent runtime API (agent keys only) --------------------------------------------------


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

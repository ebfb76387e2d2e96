"""What the agent views share: the agent querysets, and the agents list and agent page with
their HTMX fragments (the agent page is also the oauth app's)."""

from django.db.models import Prefetch, Q
from django.urls import reverse
from django.utils import timezone

from access.decorators import get_or_404
from access.ratelimit import quota_status
from access.rules import access_set
from agents import charts
from agents.forms import AGENT_EXPIRY_CHOICES, GRANT_DURATION_CHOICES, AgentFilterForm
from agents.models import Agent, Grant, Role
from apikeys.forms import DEFAULT_GRACE, GRACE_CHOICES
from apikeys.models import ApiKey
from apikeys.search import key_search
from elevation.views import pending_context
from oauth import services as oauth_services
from portal.pagination import paginate
from portal.validation import parse_query

LIST = "agents/agent_list.html"
DETAIL = "agents/agent_detail.html"
EVENTS_SHOWN = 20


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
        **pending_context(tenant, agent=agent),
        **_choices(),
        **extra,
    }


def list_page(request):
    return LIST, list_context(request, request.tenant)


def detail_page(request):
    return DETAIL, detail_context(
        request, request.tenant, request.resolver_match.kwargs["agent_id"]
    )


def portal_url(name, tenant, **kwargs):
    return reverse(f"portal:{name}", kwargs={"tenant": tenant.slug, **kwargs})

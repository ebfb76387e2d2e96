"""Elevation requests: the agent's side (`/agents/me/grant-requests`, API only) and the admins'
(`/admin/grant-requests` and the portal's `grant-requests` page, the same views)."""

from django.urls import reverse

from access.decorators import get_or_404, tenant_view
from elevation import serializers, services
from elevation.forms import DecisionForm, GrantRequestFilterForm, GrantRequestForm
from elevation.models import GrantRequest
from idempotency.decorators import idempotent
from portal.pagination import paginate
from portal.respond import notify, respond
from portal.validation import parse_query, validate

TEMPLATE = "elevation/grant_requests.html"
FRAGMENT = f"{TEMPLATE}#grant-requests"
SHOWN = 50


def pending_context(tenant, *, agent=None, origin="") -> dict:
    """The pending requests an admin can answer (all, or one agent's): for the requests page,
    the overview (`origin="overview"`) and the agent page."""
    qs = tenant.grant_requests.select_related("agent").filter(status=GrantRequest.Status.PENDING)
    if agent is not None:
        qs = qs.filter(agent=agent)
    rows = [r for r in qs[:SHOWN] if not r.lapsed()]
    if agent is not None:
        origin = f"agent:{agent.pk}"
    return {"pending_requests": rows, "pending_from": origin}


def _from(request) -> tuple:
    """Where a portal decision was posted from (`?from=agent:<id>` or `overview`): the page to
    go back to, and the agent whose requests the answering fragment lists."""
    origin = request.GET.get("from", "")
    tenant = request.tenant
    if origin.startswith("agent:"):
        agent = get_or_404(tenant.agents, pk=origin.removeprefix("agent:"))
        url = reverse("portal:agent", kwargs={"tenant": tenant.slug, "agent_id": agent.pk})
        return url, agent, origin
    if origin == "overview":
        return reverse("portal:overview", kwargs={"tenant": tenant.slug}), None, origin
    return reverse("portal:grant-requests", kwargs={"tenant": tenant.slug}), None, ""


def _page(request):
    return TEMPLATE, pending_context(request.tenant)


# --- the agent's side -----------------------------------------------------------------------


@tenant_view(api="agent", methods=("POST",))
@idempotent
def me_grant_requests(request, tenant):
    """POST: the calling agent asks for permissions for a while; 201 with the pending request."""
    data, _ = validate(GrantRequestForm, request)
    req = services.create_request(
        tenant,
        request.actor,
        request.actor.agent,
        permissions=data["permissions"],
        reason=data["reason"],
        duration_seconds=data["durationSeconds"],
    )
    return respond(request, json=serializers.grant_request(req), status=201)


@tenant_view(api="agent", methods=("GET",))
def me_grant_request(request, tenant, request_id):
    """GET one of the calling agent's requests (another agent's is a 404), to poll it."""
    req = get_or_404(tenant.grant_requests.filter(agent_id=request.actor.agent.pk), pk=request_id)
    return respond(request, json=serializers.grant_request(services.refresh(tenant, req)))


# --- the admins' side -----------------------------------------------------------------------


@tenant_view(scope="agents:read", methods=("GET",), page=_page)
def grant_request_list(request, tenant):
    """GET: the requests (`?status=`), newest first; the portal page lists the pending ones."""

    def as_json():
        filters = parse_query(request, GrantRequestFilterForm)
        qs = tenant.grant_requests.all()
        if filters.get("status"):
            qs = qs.filter(status=filters["status"])
        page = paginate(request, qs)
        page.rows = [services.refresh(tenant, r) for r in page.rows]
        return page.as_json(serializers.grant_request)

    return respond(request, FRAGMENT, lambda: pending_context(tenant), json=as_json)


@tenant_view(scope="agents:write", methods=("POST",), page=_page)
def grant_request_approve(request, tenant, request_id):
    """POST: approve; the grants exist from now for the requested duration."""
    return _decide(request, tenant, request_id, services.approve_request, "approved")


@tenant_view(scope="agents:write", methods=("POST",), page=_page)
def grant_request_deny(request, tenant, request_id):
    """POST: deny, with an optional note the agent sees when it polls."""
    return _decide(request, tenant, request_id, services.deny_request, "denied")


def _decide(request, tenant, request_id, decide, done):
    req = get_or_404(tenant.grant_requests.select_related("agent"), pk=request_id)
    back, agent, origin = (None, None, "") if request.is_api else _from(request)
    data, _ = validate(DecisionForm, request)
    req = decide(tenant, request.actor, req, note=data["note"] or "")
    notify(request, f"Request of “{req.agent.name}” for {', '.join(req.permissions)} {done}.")
    return respond(
        request,
        FRAGMENT,
        lambda: pending_context(tenant, agent=agent, origin=origin),
        json=lambda: serializers.grant_request(req),
        redirect=back,
    )

"""Roles: named sets of permissions that agents hold."""

from access.decorators import get_or_404, tenant_view
from agents import serializers, services
from agents.forms import RoleForm, UpdateRoleForm
from agents.views.pages import portal_url
from apikeys.forms import EmptyForm
from idempotency.decorators import idempotent
from portal.pagination import paginate
from portal.respond import notify, respond
from portal.validation import validate

ROLES = "agents/role_list.html"


def roles_context(request, tenant, **extra):
    page = paginate(request, tenant.roles.prefetch_related("agents"))
    return {"page": page, "roles": page.rows, **extra}


def _roles_page(request):
    return ROLES, roles_context(request, request.tenant)


@tenant_view(scope="roles:read", write_scope="roles:write", page=_roles_page)
@idempotent
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
            redirect=portal_url("roles", tenant),
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
        redirect=portal_url("roles", tenant),
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
        redirect=portal_url("roles", tenant) if request.method != "GET" else None,
    )


@tenant_view(scope="roles:write", methods=("POST",), page=_roles_page)
def role_delete(request, tenant, slug):
    """Portal form: POST .../roles/<slug>/delete[?force=true]."""
    role = get_or_404(tenant.roles.all(), slug=slug)
    validate(EmptyForm, request)
    return _delete_role(request, tenant, role)

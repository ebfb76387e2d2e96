"""The tenant settings page and `GET/PATCH /admin/settings` (SPEC §11: the dormancy policy)."""

from django.urls import reverse

from access.decorators import tenant_view
from portal.errors import Forbidden
from portal.respond import notify, respond
from portal.validation import validate
from tenants import policy as policies
from tenants import serializers
from tenants.forms import SettingsForm

SETTINGS_TEMPLATE = "tenants/tenant_settings.html"


def _settings_page(request):
    return SETTINGS_TEMPLATE, {"policy": policies.get_policy(request.tenant)}


@tenant_view(
    role="admin",
    write_role="admin",
    methods=("GET", "POST", "PATCH"),
    api_only=("PATCH",),
    page=_settings_page,
)
def tenant_settings(request, tenant):
    """GET/PATCH /admin/settings (a form POST in the portal): the dormancy policy. A
    full-admin key (no scopes) or the admin role."""
    if request.actor.scopes is not None:
        raise Forbidden("Tenant settings need a full-admin key.")
    policy = policies.get_policy(tenant)
    if request.method in ("PATCH", "POST"):
        data, form = validate(SettingsForm, request)
        if "dormantKeyDays" in form.provided:
            policy = policies.update_settings(
                tenant, request.actor, dormant_key_days=data["dormantKeyDays"]
            )
        notify(request, "Settings saved.")
    return respond(
        request,
        f"{SETTINGS_TEMPLATE}#settings",
        lambda: {"policy": policy},
        json=lambda: serializers.policy(policy),
        redirect=reverse("portal:settings", kwargs={"tenant": tenant.slug})
        if request.method == "POST"
        else None,
    )

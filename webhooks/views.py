"""Webhook views (SPEC §11): the admin JSON API."""

from portal.errors import Forbidden, NotFound
from portal.pagination import paginate
from portal.respond import respond
from portal.tenancy import get_or_404, tenant_view
from portal.validation import validate
from webhooks import serializers, services
from webhooks.events import EVENT_TYPES
from webhooks.forms import RotateSecretForm, SettingsForm, WebhookForm, WebhookUpdateForm

FIELDS = {
    "url": "url",
    "description": "description",
    "eventTypes": "event_types",
    "isActive": "is_active",
}


@tenant_view(scope="webhooks:read", methods=("GET",))
def event_types(request, tenant):
    data = [{"type": t, "description": d} for t, d in EVENT_TYPES.items()]
    return respond(request, json={"data": data})


@tenant_view(scope="webhooks:read", write_scope="webhooks:write")
def webhook_list(request, tenant):
    if request.method == "POST":
        data, _ = validate(WebhookForm, request)
        hook, secret = services.create_webhook(
            tenant,
            request.actor,
            url=data["url"],
            description=data["description"] or "",
            event_types=data["eventTypes"] or [],
        )
        return respond(
            request, json=lambda: serializers.webhook(hook, secret=secret), status=201, secret=True
        )
    return respond(
        request, json=lambda: paginate(request, tenant.webhooks.all()).as_json(serializers.webhook)
    )


def _hook(tenant, hook_id):
    return get_or_404(tenant.webhooks.all(), pk=hook_id)


@tenant_view(
    scope="webhooks:read", write_scope="webhooks:write", methods=("GET", "PATCH", "DELETE")
)
def webhook_detail(request, tenant, hook_id):
    hook = _hook(tenant, hook_id)
    if request.method == "DELETE":
        services.delete_webhook(tenant, request.actor, hook)
        return respond(request, status=204)
    if request.method == "PATCH":
        data, form = validate(WebhookUpdateForm, request)
        changes = {FIELDS[k]: data[k] for k in form.provided}
        for k in ("url", "is_active"):
            if k in changes and changes[k] is None:
                changes.pop(k)
        if "event_types" in changes:
            changes["event_types"] = changes["event_types"] or []
        if "description" in changes:
            changes["description"] = changes["description"] or ""
        hook = services.update_webhook(tenant, request.actor, hook, **changes)
    return respond(request, json=lambda: serializers.webhook(hook))


@tenant_view(scope="webhooks:write", methods=("POST",))
def webhook_action(request, tenant, hook_id, action):
    hook = _hook(tenant, hook_id)
    if action == "rotate-secret":
        data, _ = validate(RotateSecretForm, request)
        grace = data["gracePeriod"]
        hook, secret = services.rotate_secret(
            tenant,
            request.actor,
            hook,
            grace_period=services.DEFAULT_GRACE if grace is None else grace,
        )
        return respond(request, json=lambda: serializers.webhook(hook, secret=secret), secret=True)
    if action == "test":
        d = services.send_test(tenant, request.actor, hook)
        return respond(request, json=lambda: serializers.delivery(d), status=202)
    raise NotFound()


@tenant_view(scope="webhooks:read", methods=("GET",))
def delivery_list(request, tenant, hook_id):
    hook = _hook(tenant, hook_id)
    return respond(
        request, json=lambda: paginate(request, hook.deliveries.all()).as_json(serializers.delivery)
    )


@tenant_view(scope="webhooks:read", methods=("GET",))
def delivery_detail(request, tenant, hook_id, delivery_id):
    d = get_or_404(_hook(tenant, hook_id).deliveries.all(), pk=delivery_id)
    return respond(request, json=lambda: serializers.delivery(d))


@tenant_view(scope="webhooks:write", methods=("POST",))
def delivery_redeliver(request, tenant, hook_id, delivery_id):
    d = get_or_404(_hook(tenant, hook_id).deliveries.all(), pk=delivery_id)
    d = services.redeliver(tenant, request.actor, d)
    return respond(request, json=lambda: serializers.delivery(d), status=202)


@tenant_view(role="admin", write_role="admin", methods=("GET", "PATCH"))
def tenant_settings(request, tenant):
    """GET/PATCH /admin/settings: full-admin key (no scopes) or the admin role."""
    if request.actor.scopes is not None:
        raise Forbidden("Tenant settings need a full-admin key.")
    policy = services.get_policy(tenant)
    if request.method == "PATCH":
        data, form = validate(SettingsForm, request)
        if "dormantKeyDays" in form.provided:
            policy = services.update_settings(
                tenant, request.actor, dormant_key_days=data["dormantKeyDays"]
            )
    return respond(request, json=lambda: serializers.policy(policy))

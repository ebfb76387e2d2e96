"""Webhook views (SPEC §11): each serves the portal page and the admin JSON API."""

from django.urls import reverse

from access.decorators import get_or_404, tenant_view
from portal.errors import NotFound
from portal.pagination import paginate
from portal.respond import notify, respond
from portal.validation import validate
from webhooks import serializers, services
from webhooks.events import EVENT_TYPES
from webhooks.forms import (
    EmptyForm,
    RotateSecretForm,
    WebhookForm,
    WebhookUpdateForm,
)

LIST_TEMPLATE = "webhooks/webhook_list.html"
DETAIL_TEMPLATE = "webhooks/webhook_detail.html"
FIELDS = {
    "url": "url",
    "description": "description",
    "eventTypes": "event_types",
    "isActive": "is_active",
}
GRACE_CHOICES = [
    ("0", "Immediately"),
    ("3600", "1 hour"),
    ("86400", "24 hours"),
    ("604800", "7 days"),
]


def _list_url(tenant):
    return reverse("portal:webhooks", kwargs={"tenant": tenant.slug})


def _detail_url(tenant, hook):
    return reverse("portal:webhook", kwargs={"tenant": tenant.slug, "hook_id": hook.pk})


def _hook(tenant, hook_id):
    return get_or_404(tenant.webhooks.all(), pk=hook_id)


def list_context(request, tenant, **extra):
    return {
        "webhooks": paginate(request, tenant.webhooks.all()).rows,
        "event_types": list(EVENT_TYPES),
        "list_url": _list_url(tenant),
        **extra,
    }


def detail_context(request, tenant, hook, **extra):
    return {
        "hook": hook,
        "deliveries": list(hook.deliveries.all()[:50]),
        "event_types": list(EVENT_TYPES),
        "grace_choices": GRACE_CHOICES,
        "list_url": _list_url(tenant),
        "detail_url": _detail_url(tenant, hook),
        **extra,
    }


def _list_page(request):
    return LIST_TEMPLATE, list_context(request, request.tenant)


@tenant_view(scope="webhooks:read", methods=("GET",))
def event_types(request, tenant):
    data = [{"type": t, "description": d} for t, d in EVENT_TYPES.items()]
    return respond(request, json={"data": data})


@tenant_view(scope="webhooks:read", write_scope="webhooks:write", page=_list_page)
def webhook_list(request, tenant):
    """GET: list webhooks. POST: subscribe one; its secret is in this answer only."""
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
            request,
            f"{LIST_TEMPLATE}#webhooks",
            lambda: list_context(request, tenant, created=hook, secret=secret),
            json=lambda: serializers.webhook(hook, secret=secret),
            status=201,
            secret=True,
        )
    return respond(
        request,
        f"{LIST_TEMPLATE}#webhooks",
        lambda: list_context(request, tenant),
        json=lambda: paginate(request, tenant.webhooks.all()).as_json(serializers.webhook),
    )


def _update(request, tenant, hook):
    data, form = validate(WebhookUpdateForm, request)
    changes = {FIELDS[k]: data[k] for k in form.provided}
    for name in ("url", "is_active"):
        if name in changes and changes[name] is None:
            changes.pop(name)
    if "event_types" in changes:
        changes["event_types"] = changes["event_types"] or []
    if "description" in changes:
        changes["description"] = changes["description"] or ""
    return services.update_webhook(tenant, request.actor, hook, **changes)


@tenant_view(
    scope="webhooks:read",
    write_scope="webhooks:write",
    methods=("GET", "POST", "PATCH", "DELETE"),
    api_only=("PATCH", "DELETE"),
)
def webhook_detail(request, tenant, hook_id):
    """GET one webhook (with its delivery log in the portal); PATCH (a form POST in the
    portal) updates it; DELETE removes it."""
    hook = _hook(tenant, hook_id)
    if request.method == "DELETE":
        validate(EmptyForm, request)
        services.delete_webhook(tenant, request.actor, hook)
        return respond(request, status=204)
    changed = request.method in ("PATCH", "POST")
    if changed:
        hook = _update(request, tenant, hook)
        notify(request, "Webhook saved.")
    return _detail_answer(
        request,
        tenant,
        hook,
        json=lambda: serializers.webhook(hook),
        redirect=_detail_url(tenant, hook) if changed else None,
    )


def _detail_answer(request, tenant, hook, *, json, secret=None, **kwargs):
    """The webhook's page (its #detail fragment with HTMX) or `json`; with `secret`, the new
    signing secret is shown once on it (no-store, never a redirect)."""
    shown = {"secret": secret} if secret else {}
    return respond(
        request,
        f"{DETAIL_TEMPLATE}#detail",
        lambda: detail_context(request, tenant, hook, **shown),
        json=json,
        secret=bool(secret),
        **kwargs,
    )


@tenant_view(scope="webhooks:write", methods=("POST",))
def webhook_action(request, tenant, hook_id, action):
    """POST …/rotate-secret, …/test, and …/delete for portal form posts."""
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
        return _detail_answer(
            request,
            tenant,
            hook,
            secret=secret,
            json=lambda: serializers.webhook(hook, secret=secret),
            redirect=_detail_url(tenant, hook),
        )
    if action == "test":
        validate(EmptyForm, request)
        d = services.send_test(tenant, request.actor, hook)
        notify(request, "Test event queued.")
        return _detail_answer(
            request,
            tenant,
            hook,
            json=lambda: serializers.delivery(d),
            status=202,
            redirect=_detail_url(tenant, hook),
        )
    if action == "delete" and not request.is_api:
        validate(EmptyForm, request)
        services.delete_webhook(tenant, request.actor, hook)
        notify(request, "Webhook deleted.")
        return respond(
            request,
            f"{LIST_TEMPLATE}#webhooks",
            lambda: list_context(request, tenant),
            redirect=_list_url(tenant),
        )
    raise NotFound()


@tenant_view(scope="webhooks:read", methods=("GET",))
def delivery_list(request, tenant, hook_id):
    hook = _hook(tenant, hook_id)
    return respond(
        request,
        f"{DETAIL_TEMPLATE}#detail",
        lambda: detail_context(request, tenant, hook),
        json=lambda: paginate(request, hook.deliveries.all()).as_json(serializers.delivery),
    )


@tenant_view(scope="webhooks:read", methods=("GET",))
def delivery_detail(request, tenant, hook_id, delivery_id):
    hook = _hook(tenant, hook_id)
    d = get_or_404(hook.deliveries.all(), pk=delivery_id)
    return respond(
        request,
        f"{DETAIL_TEMPLATE}#detail",
        lambda: detail_context(request, tenant, hook, selected=d),
        json=lambda: serializers.delivery(d),
    )


@tenant_view(scope="webhooks:write", methods=("POST",))
def delivery_redeliver(request, tenant, hook_id, delivery_id):
    hook = _hook(tenant, hook_id)
    d = get_or_404(hook.deliveries.all(), pk=delivery_id)
    validate(EmptyForm, request)
    d = services.redeliver(tenant, request.actor, d)
    notify(request, f"{d.event_type} queued for redelivery.")
    return respond(
        request,
        f"{DETAIL_TEMPLATE}#detail",
        lambda: detail_context(request, tenant, hook),
        json=lambda: serializers.delivery(d),
        status=202,
        redirect=_detail_url(tenant, hook),
    )

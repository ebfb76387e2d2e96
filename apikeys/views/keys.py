"""Admin keys: the keys table (and minting), the key page and its edits; each serves the portal
page, its HTMX fragments and the JSON API. Each key's lifecycle is in `lifecycle`, bulk actions
in `bulk`."""

from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import Q
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from access.decorators import get_or_404, tenant_view
from access.ratelimit import quota_status
from agents import charts
from apikeys import serializers, services
from apikeys.forms import (
    DEFAULT_GRACE,
    DEFAULT_KEY_EXPIRY,
    GRACE_CHOICES,
    KEY_FORM_EXPIRY_CHOICES,
    EmptyForm,
    KeyFilterForm,
    MintKeyForm,
    UpdateKeyForm,
    portal_scopes,
    quota_changes,
)
from apikeys.models import ApiKey
from apikeys.search import key_search
from apikeys.services import ADMIN_SCOPES
from idempotency.decorators import idempotent
from portal import once
from portal.errors import Invalid
from portal.pagination import paginate
from portal.respond import respond, wants_fragment
from portal.validation import parse_query, validate

TEMPLATE = "apikeys/apikey_list.html"
DETAIL_TEMPLATE = "apikeys/apikey_detail.html"
STATUS_CHOICES = [*ApiKey.Status.values, "expired"]
EVENTS_SHOWN = 20
# JSON field → service keyword, for PATCH /api-keys/<id> and the key page's form.
KEY_FIELDS = {
    "name": "name",
    "note": "note",
    "rateLimitPerMinute": "rate_limit_per_minute",
    "allowedIps": "allowed_ips",
    "meta": "meta",
    "permissions": "permissions",
}


def filtered_keys(tenant, filters):
    """The one queryset behind the keys table and `GET /api-keys`.

    `status` filters on what a key does now, as the table shows it: `active` and `deprecated`
    leave out keys past their expiry, which `expired` lists (revoked keys stay `revoked`).
    """
    qs = tenant.api_keys.select_related("agent")
    status = filters.get("status")
    now = timezone.now()
    live = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    if status == "expired":
        qs = qs.exclude(status=ApiKey.Status.REVOKED).filter(expires_at__lte=now)
    elif status in (ApiKey.Status.ACTIVE, ApiKey.Status.DEPRECATED):
        qs = qs.filter(live, status=status)
    elif status:
        qs = qs.filter(status=status)
    if filters.get("kind"):
        qs = qs.filter(kind=filters["kind"])
    if filters.get("agentId"):
        qs = qs.filter(agent_id=filters["agentId"])
    if filters.get("q", "").strip():
        qs = qs.filter(key_search(filters["q"]))
    return qs


def _paginated_keys(request, tenant):
    return paginate(request, filtered_keys(tenant, parse_query(request, KeyFilterForm)))


def _query(filters, **extra) -> str:
    """The table's state (filters, cursor) as a query string, to keep it across actions."""
    params = {k: str(v) for k, v in {**filters, **extra}.items() if v not in (None, "")}
    return urlencode(params)


def page_context(request, tenant, **extra):
    filters = parse_query(request, KeyFilterForm)
    page = paginate(request, filtered_keys(tenant, filters))
    cursor = request.GET.get("cursor", "")
    return {
        "page": page,
        "keys": page.rows,
        "filters": filters,
        "filter_query": _query(filters),
        "state_query": _query(filters, cursor=cursor),
        "next_query": _query(filters, cursor=page.next_cursor) if page.next_cursor else "",
        "list_url": list_url(tenant),
        "fragment": wants_fragment(request),
        "now": timezone.now(),
        "status_choices": STATUS_CHOICES,
        "kind_choices": ApiKey.Kind.values,
        "scope_choices": ADMIN_SCOPES,
        "expiry_choices": KEY_FORM_EXPIRY_CHOICES,
        "default_expiry": DEFAULT_KEY_EXPIRY,
        "grace_choices": GRACE_CHOICES,
        "default_grace": DEFAULT_GRACE,
        **extra,
    }


def list_page(request):
    """The keys page again, with the posted form's values, for a form post's errors."""
    checked = request.POST.getlist("scopes")
    try:
        return TEMPLATE, page_context(request, request.tenant, checked_scopes=checked)
    except Invalid:
        # The query string itself is what was wrong: show the unfiltered table under the message.
        request.GET = QueryDict()
        return TEMPLATE, page_context(request, request.tenant, checked_scopes=checked)


def list_url(tenant):
    return reverse("portal:api-keys", kwargs={"tenant": tenant.slug})


def back_to_list(request, tenant):
    """The keys table as the action was posted from it (its filters and cursor)."""
    query = request.GET.urlencode()
    return list_url(tenant) + (f"?{query}" if query else "")


@tenant_view(scope="api_keys:read", write_scope="api_keys:write", page=list_page)
@idempotent
def api_key_list(request, tenant):
    """GET: list keys (filter by status, kind, agentId). POST: mint an admin key."""
    if request.method == "POST":
        data, _ = validate(MintKeyForm, request)
        with once.claimed(request):
            key, secret = services.mint_key(
                tenant,
                request.actor,
                name=data["name"],
                scopes=data["scopes"]
                if request.is_api
                else portal_scopes(request.POST, data["scopes"]),
                expires_at=data["expires_at"],
                rate_limit_per_minute=data["rateLimitPerMinute"],
                allowed_ips=data["allowedIps"],
                meta=data["meta"],
                **quota_changes(data["quota"]),
            )
        return respond(
            request,
            f"{TEMPLATE}#minted",
            lambda: page_context(request, tenant, minted=key, secret=secret),
            json=lambda: serializers.key(key, secret=secret),
            status=201,
            secret=True,
            redirect=list_url(tenant),
        )
    return respond(
        request,
        f"{TEMPLATE}#key-table",
        lambda: page_context(request, tenant),
        json=lambda: _paginated_keys(request, tenant).as_json(serializers.key),
    )


def get_key(tenant, key_id) -> ApiKey:
    return get_or_404(tenant.api_keys.select_related("agent"), pk=key_id)


def detail_context(request, tenant, key, **extra):
    """The key page: its facts, the keys it replaced or was replaced by, 30 days of use and
    its recent events (lifecycle, edits and rejected uses: every event that targets it)."""
    summary = charts.key_usage(key)
    return {
        "key": key,
        "now": timezone.now(),
        "list_url": list_url(tenant),
        "grace_choices": GRACE_CHOICES,
        "default_grace": DEFAULT_GRACE,
        "related": tenant.api_keys.filter(
            pk__in=[pk for pk in (key.rotated_from_id, key.replaced_by_id) if pk]
        ),
        "chart": charts.bar_chart(summary["daily"]),
        "events": list(tenant.audit_events.filter(target_id=str(key.pk))[:EVENTS_SHOWN]),
        "fragment": wants_fragment(request),
        "key_quota": quota_status(key),
        **extra,
    }


def _detail_page(request):
    key = get_key(request.tenant, request.resolver_match.kwargs["key_id"])
    return DETAIL_TEMPLATE, detail_context(request, request.tenant, key)


@tenant_view(
    scope="api_keys:read",
    write_scope="api_keys:write",
    methods=("GET", "POST", "PATCH", "DELETE"),
    api_only=("PATCH", "DELETE"),
    page=_detail_page,
)
def api_key_detail(request, tenant, key_id):
    """GET one key (the portal's key page); PATCH (or the page's form post) edits its name,
    note, rate limit and allowlist; DELETE removes it (the key stops working)."""
    key = get_key(tenant, key_id)
    if request.method == "DELETE":
        validate(EmptyForm, request)
        services.delete_key(tenant, request.actor, key)
        return respond(request, status=204)
    if request.method in ("PATCH", "POST"):
        data, form = validate(UpdateKeyForm, request)
        changes = {kw: data[field] for field, kw in KEY_FIELDS.items() if field in form.provided}
        if "quota" in form.provided:
            changes.update(quota_changes(data["quota"]))
        key = services.update_key(tenant, request.actor, key, **changes)
        if not request.is_api and not wants_fragment(request):
            messages.success(request, f"Key “{key.name}” ({key.prefix}) saved.")
    return respond(
        request,
        f"{DETAIL_TEMPLATE}#key-detail",
        lambda: detail_context(request, tenant, key, saved=request.method == "POST"),
        json=lambda: serializers.key(key),
        redirect=f"{list_url(tenant)}/{key.pk}" if request.method == "POST" else None,
    )

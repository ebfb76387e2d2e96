"""The audit log: one queryset and one filter form behind the page, the JSON list and the
streamed export (CSV or JSON Lines)."""

import csv
import json

from django.db.models import Q
from django.http import StreamingHttpResponse
from django.utils import timezone

from access.decorators import tenant_view
from audit import chain, serializers
from audit.forms import ACTION_CHOICES, AuditFilterForm, ExportForm
from portal.errors import Invalid
from portal.pagination import paginate
from portal.respond import respond
from portal.validation import parse_query

TEMPLATE = "audit/audit_log.html"
FILTER_LABELS = {"action": "Action", "actorId": "Actor", "targetId": "Target", "since": "From",
                 "until": "To"}  # fmt: skip
EXPORT_CHUNK = 2000
CSV_COLUMNS = [
    "id",
    "occurredAt",
    "action",
    "actorType",
    "actorId",
    "actorName",
    "targetType",
    "targetId",
    "targetName",
    "ip",
    "userAgent",
    "metadata",
    "prevHash",
    "hash",
]


def filtered_events(tenant, filters):
    """The tenant's events narrowed by `action`, `actorId`, `targetId`, `since`, `until`.

    `actorId`/`targetId` match the id, or the name case-insensitively (so the portal's filter
    takes an email or an agent name as well).
    """
    qs = tenant.audit_events.all()
    if filters.get("action"):
        qs = qs.filter(action=filters["action"])
    for param, field in (("actorId", "actor"), ("targetId", "target")):
        if filters.get(param):
            value = filters[param]
            qs = qs.filter(Q(**{f"{field}_id": value}) | Q(**{f"{field}_name__iexact": value}))
    if filters.get("since"):
        qs = qs.filter(occurred_at__gte=filters["since"])
    if filters.get("until"):
        qs = qs.filter(occurred_at__lte=filters["until"])
    return qs


@tenant_view(scope="audit:read", methods=("GET",))
def audit_log(request, tenant):
    """Events newest first, filtered; `?limit=`/`?cursor=` pages (a "Load more" in the portal).

    A filter that does not parse (a date range ending before it starts) is a 400 in the API; in
    the portal it is shown on the filter form, with what was typed, instead of a dead end."""
    entered = {k: request.GET.get(k, "") for k in AuditFilterForm.base_fields}
    try:
        filters = parse_query(request, AuditFilterForm)
    except Invalid as exc:
        if request.is_api:
            raise
        context = {
            "events": [],
            "filters": entered,
            "invalid_fields": set(exc.details),
            "filter_errors": [
                (FILTER_LABELS.get(field, field), message)
                for field, messages in exc.details.items()
                for message in messages
            ],
        }
        return respond(
            request,
            f"{TEMPLATE}#event-table",
            {**context, "action_choices": ACTION_CHOICES},
            status=400,
        )
    page = paginate(request, filtered_events(tenant, filters), order_field="occurred_at")
    return respond(
        request,
        f"{TEMPLATE}#event-table",
        lambda: {
            "page": page,
            "events": page.rows,
            "filters": entered,
            "filtered": any(filters.values()),
            "action_choices": ACTION_CHOICES,
        },
        json=lambda: page.as_json(serializers.event),
    )


class _Echo:
    """A file-like object whose write() hands the line back, for csv.writer in a stream."""

    def write(self, value):
        return value


def _csv_cell(value) -> str:
    # Spreadsheets run cells starting with these as formulas; names are user-chosen.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_lines(events):
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for e in events:
        data = serializers.event(e)
        actor, target = data["actor"], data["target"] or {}
        row = [
            data["id"],
            data["occurredAt"],
            data["action"],
            actor["type"],
            actor["id"],
            actor["name"],
            target.get("type"),
            target.get("id"),
            target.get("name"),
            data["ip"],
            data["userAgent"],
            json.dumps(data["metadata"], sort_keys=True, separators=(",", ":")),
            data["prevHash"],
            data["hash"],
        ]
        yield writer.writerow([_csv_cell(v) for v in row])


def _jsonl_lines(events):
    for e in events:
        yield json.dumps(serializers.event(e), separators=(",", ":")) + "\n"


EXPORTS = {
    "csv": ("text/csv; charset=utf-8", _csv_lines),
    "jsonl": ("application/x-ndjson", _jsonl_lines),
}


@tenant_view(scope="audit:read", methods=("GET",))
def audit_export(request, tenant):
    """The filtered events as a streamed CSV or JSON Lines attachment, newest first."""
    filters = parse_query(request, ExportForm)
    content_type, lines = EXPORTS[filters["format"]]
    events = (
        filtered_events(tenant, filters)
        .order_by("-occurred_at", "-id")
        .iterator(chunk_size=EXPORT_CHUNK)
    )
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(lines(events), content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="audit-{tenant.slug}-{stamp}.{filters["format"]}"'
    )
    response["Cache-Control"] = "no-store"
    return response


@tenant_view(scope="audit:read", role="admin", methods=("GET",))
def audit_verify(request, tenant):
    """Recompute the tenant's chain: `{"ok": true, "events": n}`, or the first event where it
    breaks, `{"ok": false, "brokenAt", "reason"}` (SPEC §13). A session needs the admin role, as
    it reads the whole log."""
    return respond(request, json=lambda: chain.verify(tenant).as_json())

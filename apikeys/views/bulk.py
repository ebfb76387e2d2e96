"""POST .../api-keys/bulk: one lifecycle action on many keys, each through the single call's code
path (`lifecycle.apply_action`)."""

import uuid

from django.contrib import messages

from access.decorators import tenant_view
from apikeys.forms import BulkForm
from apikeys.views.keys import (
    TEMPLATE,
    back_to_list,
    filtered_keys,
    get_key,
    list_page,
    list_url,
    page_context,
)
from apikeys.views.lifecycle import DONE, apply_action
from portal.errors import ApiError
from portal.respond import respond
from portal.validation import validate

BULK_TEMPLATE = "apikeys/apikey_bulk_confirm.html"


def bulk_apply(tenant, actor, action, ids, data) -> list[dict]:
    """Each id on its own, in its own transaction and audit event: one item's 404 or 409 does
    not stop the rest. Each status is what the single call answers (delete: 204)."""
    results = []
    for key_id in ids:
        try:
            apply_action(tenant, actor, get_key(tenant, key_id), action, data)
        except ApiError as exc:
            results.append({"id": key_id, "status": exc.status, "error": exc.code})
        else:
            results.append({"id": key_id, "status": 204 if action == "delete" else 200})
    return results


def _bulk_data(request):
    """The posted bulk form; a portal post's `confirm` marker is not part of it."""
    if request.is_api:
        return validate(BulkForm, request)[0], True
    posted = request.POST.copy()
    confirmed = posted.pop("confirm", None) is not None
    return BulkForm(posted).validate(), confirmed


@tenant_view(scope="api_keys:write", methods=("POST",), page=list_page)
def api_key_bulk(request, tenant):
    """POST .../api-keys/bulk {action, ids, reason?}. The portal asks to confirm first."""
    data, confirmed = _bulk_data(request)
    action, ids = data["action"], data["ids"]
    if not confirmed:
        selected = [k for k in filtered_keys(tenant, {}).filter(pk__in=_uuids(ids))]
        return respond(
            request,
            f"{BULK_TEMPLATE}#bulk-confirm",
            lambda: {
                "action": action,
                "ids": ids,
                "reason": data.get("reason") or "",
                "selected": selected,
                "missing": len(ids) - len(selected),
                "list_url": list_url(tenant),
                "state_query": request.GET.urlencode(),
            },
        )
    results = bulk_apply(tenant, request.actor, action, ids, data)
    if not request.is_api:
        done = sum(1 for r in results if r["status"] < 300)
        failed = len(results) - done
        text = f"{done} key(s) {DONE[action]}."
        if failed:
            text += f" {failed} could not be: they were missing or not in a state for it."
        (messages.warning if failed else messages.success)(request, text)
    return respond(
        request,
        f"{TEMPLATE}#key-table",
        lambda: page_context(request, tenant),
        json=lambda: {"results": results},
        redirect=back_to_list(request, tenant),
    )


def _uuids(ids):
    out = []
    for value in ids:
        try:
            out.append(uuid.UUID(value))
        except ValueError:
            continue
    return out

"""One admin key's lifecycle: POST .../api-keys/<id>/rotate|deprecate|activate|revoke, and
delete for portal form posts (the API deletes with DELETE on the key)."""

from access.decorators import tenant_view
from apikeys import serializers, services
from apikeys.forms import EmptyForm, RevokeForm, RotateForm
from apikeys.views.keys import TEMPLATE, back_to_list, get_key, list_page, page_context
from portal import once
from portal.respond import notify, respond
from portal.validation import validate

DONE = {
    "deprecate": "deprecated",
    "activate": "activated",
    "revoke": "revoked",
    "delete": "deleted",
}


def apply_action(tenant, actor, key, action, data):
    """deprecate|activate|revoke|delete one key: the single code path of single and bulk calls."""
    match action:
        case "deprecate":
            return services.deprecate_key(tenant, actor, key)
        case "activate":
            return services.activate_key(tenant, actor, key)
        case "revoke":
            return services.revoke_key(tenant, actor, key, reason=data.get("reason") or "")
        case "delete":
            services.delete_key(tenant, actor, key)
            return key
    raise ValueError(f"not a key action: {action!r}")


def _change(request, tenant, key_id, action, form):
    """Apply `action` to one key; the table again, as it was, with the outcome."""
    key = get_key(tenant, key_id)
    data, _ = validate(form, request)
    key = apply_action(tenant, request.actor, key, action, data)
    notify(request, f"Key “{key.name}” ({key.prefix}) {DONE[action]}.")
    return respond(
        request,
        f"{TEMPLATE}#key-table",
        lambda: page_context(request, tenant),
        json=lambda: serializers.key(key),
        redirect=back_to_list(request, tenant),
    )


@tenant_view(scope="api_keys:write", methods=("POST",), page=list_page)
def api_key_rotate(request, tenant, key_id):
    """A new key replaces this one, which is revoked, or deprecated for `gracePeriod`."""
    key = get_key(tenant, key_id)
    data, _ = validate(RotateForm, request)
    with once.claimed(request):
        new_key, secret = services.rotate_key(
            tenant, request.actor, key, grace_period=data.get("gracePeriod") or 0
        )
    return respond(
        request,
        f"{TEMPLATE}#minted",
        lambda: page_context(
            request, tenant, minted=new_key, secret=secret, rotated=new_key.rotated_from
        ),
        json=lambda: serializers.key(new_key, secret=secret),
        status=201,
        secret=True,
        redirect=back_to_list(request, tenant),
    )


@tenant_view(scope="api_keys:write", methods=("POST",), page=list_page)
def api_key_deprecate(request, tenant, key_id):
    return _change(request, tenant, key_id, "deprecate", EmptyForm)


@tenant_view(scope="api_keys:write", methods=("POST",), page=list_page)
def api_key_activate(request, tenant, key_id):
    return _change(request, tenant, key_id, "activate", EmptyForm)


@tenant_view(scope="api_keys:write", methods=("POST",), page=list_page)
def api_key_revoke(request, tenant, key_id):
    return _change(request, tenant, key_id, "revoke", RevokeForm)


@tenant_view(scope="api_keys:write", methods=("POST",), page=list_page)
def api_key_delete(request, tenant, key_id):
    return _change(request, tenant, key_id, "delete", EmptyForm)

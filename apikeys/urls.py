from django.urls import path

from apikeys.views import bulk, keys, lifecycle


def _key_patterns(base):
    """Routes shared by the portal (`settings/api-keys...`) and the API (`admin/api-keys...`)."""
    k = f"{base}/<str:key_id>"
    return [
        path(base, keys.api_key_list, name="api-keys"),
        path(f"{base}/bulk", bulk.api_key_bulk, name="api-keys-bulk"),
        path(k, keys.api_key_detail, name="api-key"),
        path(f"{k}/rotate", lifecycle.api_key_rotate, name="api-key-rotate"),
        path(f"{k}/deprecate", lifecycle.api_key_deprecate, name="api-key-deprecate"),
        path(f"{k}/activate", lifecycle.api_key_activate, name="api-key-activate"),
        path(f"{k}/revoke", lifecycle.api_key_revoke, name="api-key-revoke"),
    ]


# The portal deletes with a form post (the API with DELETE on the key).
portal_patterns = [
    *_key_patterns("settings/api-keys"),
    path("settings/api-keys/<str:key_id>/delete", lifecycle.api_key_delete, name="api-key-delete"),
]

api_patterns = _key_patterns("admin/api-keys")

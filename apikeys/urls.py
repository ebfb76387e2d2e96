from django.urls import path

from apikeys import views

portal_patterns = [
    path("settings/api-keys", views.api_key_list, name="api-keys"),
    path("settings/api-keys/bulk", views.api_key_bulk, name="api-keys-bulk"),
    path("settings/api-keys/<str:key_id>", views.api_key_detail, name="api-key"),
    path(
        "settings/api-keys/<str:key_id>/<str:action>", views.api_key_action, name="api-key-action"
    ),
]

api_patterns = [
    path("admin/api-keys", views.api_key_list, name="api-keys"),
    path("admin/api-keys/bulk", views.api_key_bulk, name="api-keys-bulk"),
    path("admin/api-keys/<str:key_id>", views.api_key_detail, name="api-key"),
    path("admin/api-keys/<str:key_id>/<str:action>", views.api_key_action, name="api-key-action"),
]

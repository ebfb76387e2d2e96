from django.urls import path

from webhooks import views

portal_patterns = [
    path("settings/webhooks", views.webhook_list, name="webhooks"),
    path("settings/webhooks/<str:hook_id>", views.webhook_detail, name="webhook"),
    path(
        "settings/webhooks/<str:hook_id>/deliveries/<str:delivery_id>",
        views.delivery_detail,
        name="webhook-delivery",
    ),
    path(
        "settings/webhooks/<str:hook_id>/deliveries/<str:delivery_id>/redeliver",
        views.delivery_redeliver,
        name="webhook-redeliver",
    ),
    path(
        "settings/webhooks/<str:hook_id>/<str:action>", views.webhook_action, name="webhook-action"
    ),
]

api_patterns = [
    path("admin/webhook-event-types", views.event_types, name="webhook-event-types"),
    path("admin/webhooks", views.webhook_list, name="webhooks"),
    path("admin/webhooks/<str:hook_id>", views.webhook_detail, name="webhook"),
    path("admin/webhooks/<str:hook_id>/deliveries", views.delivery_list, name="webhook-deliveries"),
    path(
        "admin/webhooks/<str:hook_id>/deliveries/<str:delivery_id>",
        views.delivery_detail,
        name="webhook-delivery",
    ),
    path(
        "admin/webhooks/<str:hook_id>/deliveries/<str:delivery_id>/redeliver",
        views.delivery_redeliver,
        name="webhook-redeliver",
    ),
    path("admin/webhooks/<str:hook_id>/<str:action>", views.webhook_action, name="webhook-action"),
]

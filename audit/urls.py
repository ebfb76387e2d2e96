from django.urls import path

from audit import views

portal_patterns = [
    path("audit-log", views.audit_log, name="audit-log"),
    path("audit-log/export", views.audit_export, name="audit-log-export"),
]

api_patterns = [
    path("admin/audit-logs", views.audit_log, name="audit-logs"),
    path("admin/audit-logs/export", views.audit_export, name="audit-logs-export"),
    path("admin/audit-logs/verify", views.audit_verify, name="audit-logs-verify"),
]

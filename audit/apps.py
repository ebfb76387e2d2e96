from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"

    def ready(self):
        from access import shared
        from audit.services import event_recorded

        # Every change to credentials is audited: each moves its tenant's credential epoch, so
        # no process serves a cached key row read before it (access.shared).
        event_recorded.connect(shared.on_event_recorded, dispatch_uid="tessera-credential-epoch")

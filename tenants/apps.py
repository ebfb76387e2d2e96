from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"

    def ready(self):
        from allauth.mfa import signals

        from tenants import auth

        signals.authenticator_added.connect(auth.audit_mfa_added)
        signals.authenticator_removed.connect(auth.audit_mfa_removed)

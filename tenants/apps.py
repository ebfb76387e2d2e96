from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"

    def ready(self):
        from allauth.mfa import signals

        from access import decorators
        from tenants import auth

        signals.authenticator_added.connect(auth.audit_mfa_added)
        signals.authenticator_removed.connect(auth.audit_mfa_removed)
        # The tenant's sign-in policy and confirm access bind every member session (SPEC §14).
        decorators.add_session_check(auth.session_check)

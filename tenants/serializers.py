"""JSON of a tenant's settings (`/admin/settings`)."""


def policy(p) -> dict:
    tenant = p.tenant
    return {
        "dormantKeyDays": p.dormant_key_days,
        "requireMfa": tenant.require_mfa,
        "ssoOnly": tenant.sso_only,
    }

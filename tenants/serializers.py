"""JSON of a tenant's settings (`/admin/settings`)."""


def policy(p) -> dict:
    return {"dormantKeyDays": p.dormant_key_days}

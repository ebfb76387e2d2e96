"""An agent's keys: minting another, rotating them (the lifecycle itself is `apikeys.services`)."""

from django.db import transaction
from django.utils import timezone

from agents.services._common import _lock_agent
from apikeys import services as key_services
from apikeys.models import ApiKey
from audit.services import record
from portal.errors import Conflict, NotFound


def mint_agent_key(
    tenant,
    actor,
    agent,
    *,
    name,
    expires_at=None,
    rate_limit_per_minute=None,
    allowed_ips=None,
    meta=None,
    permissions=None,
    quota_limit=None,
    quota_period="",
):
    """Mint another key for the agent. Returns (key, plaintext)."""
    with transaction.atomic():
        locked = _lock_agent(tenant, agent)
        return key_services.mint_key(
            tenant,
            actor,
            name=name,
            agent=locked,
            expires_at=expires_at,
            rate_limit_per_minute=rate_limit_per_minute,
            allowed_ips=allowed_ips,
            meta=meta,
            permissions=permissions,
            quota_limit=quota_limit,
            quota_period=quota_period,
        )


def rotate_agent_keys(tenant, actor, agent, *, key_id=None, grace_period: int = 0):
    """Replace the agent's key `key_id`, or without it every live key, by one new key.

    The replaced keys are revoked now (grace 0) or deprecated until now + grace. Without
    `key_id` and with no grace, keys still in the grace window of an earlier rotation are
    revoked too, so no old credential outlives the call. Returns (new_key, plaintext).
    """
    with transaction.atomic():
        locked_agent = _lock_agent(tenant, agent)
        keys_qs = tenant.api_keys.select_for_update().filter(agent=locked_agent)
        if key_id is not None:
            keys = list(keys_qs.filter(pk=key_id))
            if not keys:
                raise NotFound("This agent has no key with that id.")
            earlier = []
        else:
            now = timezone.now()
            live = [
                key
                for key in keys_qs.order_by("-created_at", "-id")
                if key.status != ApiKey.Status.REVOKED and not key.is_expired(now)
            ]
            keys = [key for key in live if not key.replaced_by_id]
            earlier = [key for key in live if key.replaced_by_id]
            if not keys:
                raise Conflict("The agent has no live key to rotate; mint a new key instead.")
        for key in keys:
            key.agent = locked_agent
        new_key, secret = key_services.replace_keys(tenant, actor, keys, grace_period=grace_period)
        if not grace_period:
            for key in earlier:
                key_services.revoke_rotated_key(tenant, actor, key)
        record(
            tenant,
            actor,
            "agent.key_rotated",
            target=locked_agent,
            metadata={
                "replacedKeys": [key.prefix for key in keys + earlier],
                "newKeyId": str(new_key.pk),
                "newPrefix": new_key.prefix,
                "gracePeriod": grace_period,
            },
        )
    return new_key, secret

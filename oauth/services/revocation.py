"""Revocation and introspection: token families, single tokens (RFC 7009), an agent's
tokens, introspection (RFC 7662), and the counts of tokens issued."""

from django.db import transaction
from django.utils import timezone

from access import keyformat, signing, tokens
from access.actor import Actor
from access.keys import KeyRow
from audit.services import record
from oauth.models import AccessToken, TokenFamily
from oauth.services._common import _find_refresh


def revoke_family(family: TokenFamily, actor, now=None) -> None:
    """End every access and refresh token of one grant (inside the caller's transaction)."""
    TokenFamily.objects.filter(pk=family.pk, revoked_at__isnull=True).update(
        revoked_at=now or timezone.now()
    )


def introspect(tenant_slug: str, raw, caller: KeyRow) -> dict:
    """RFC 7662 for an access token: its claims when live, else exactly `{"active": false}`.

    An agent may introspect only its own tokens; an admin key (checked by the view) any token
    of the tenant. Refresh tokens are not introspected (they are `{"active": false}`).
    """
    found = tokens.check(raw, tenant_slug) if isinstance(raw, str) else None
    if found is None:
        return {"active": False}
    claims = found[0]
    if caller.kind == keyformat.AGENT and claims["client_id"] != str(caller.agent_id):
        return {"active": False}
    names = ("scope", "client_id", "sub", "iss", "aud", "exp", "iat", "jti", "tenant")
    return {"active": True, **{n: claims[n] for n in names}, "token_type": "Bearer"}


def revoke_token(tenant_slug: str, raw, client: KeyRow) -> None:
    """RFC 7009: revoke one access token, or a refresh token with its whole grant, if it is the
    client's. An unknown or foreign token is ignored (the answer is the same 200)."""
    now = timezone.now()
    actor = Actor.for_key(client)
    with transaction.atomic():
        if isinstance(raw, str) and tokens.looks_like_jwt(raw):
            claims = tokens.verify_claims(signing.decode(raw), tenant_slug, now, allow_expired=True)
            if claims is None or claims["client_id"] != str(client.agent_id):
                return
            done = AccessToken.objects.filter(jti=claims["_jti"], revoked_at__isnull=True).update(
                revoked_at=now
            )
            kind, ref = "access_token", claims["jti"]
        else:
            found = _find_refresh(raw, tenant_slug, lock=False)
            if found is None or found.family.agent_id != client.agent_id:
                return
            done = TokenFamily.objects.filter(pk=found.family_id, revoked_at__isnull=True).update(
                revoked_at=now
            )
            kind, ref = "refresh_token", str(found.family_id)
        if done:
            record(
                client.tenant,
                actor,
                "oauth.token_revoked",
                target=("agent", str(client.agent_id), client.agent.name),
                metadata={"agentId": str(client.agent_id), "tokenType": kind, "ref": ref},
            )


def tokens_issued_since(tenant, since) -> int:
    """Access tokens the tenant's agents were issued from `since` on (the overview's count)."""
    return AccessToken.objects.filter(family__tenant=tenant, issued_at__gte=since).count()


def revoke_agent_tokens(tenant, actor, agent) -> int:
    """Every token of `agent` stops working now; returns how many grants were open."""
    with transaction.atomic():
        count = tokens.end_tokens(agent_id=agent.pk)
        record(tenant, actor, "oauth.tokens_revoked", target=agent, metadata={"grants": count})
    return count

"""Issuance: the granted scope, access and refresh tokens, client credentials and refresh."""

import datetime as dt
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from access import clients, events, keyformat, ratelimit, signing, tokens
from access.actor import Actor
from access.keys import KeyRow, deprecation_headers
from access.rules import MANAGE_SELF, Matcher, expiries, is_permission, key_access_set
from audit.services import record
from oauth.models import AccessToken, RefreshToken, TokenFamily
from oauth.services._common import _find_refresh
from oauth.services.revocation import revoke_family
from portal.errors import ApiError, OAuthError, invalid_grant


def spend(key: KeyRow, ip, *, presented=True) -> dict:
    """A token request is a use of the key: it spends the rate limit and counts in usage. A
    request that `presented` the key (client authentication) carries its deprecation headers;
    a refresh, which presents only its token, does not."""
    headers = ratelimit.spend(key)
    events.record_use(key, ip)
    return {**headers, **deprecation_headers(key)} if presented else headers


def _available(key: KeyRow, now) -> dict:
    """permission -> expiry (None: none) of the key's agent's access set."""
    return expiries(key_access_set(key, now))


def resolve_scope(requested, available: dict) -> list[str]:
    """The granted scope: `requested` (space-separated permissions), each covered by the access
    set, or `manage:self`, which is granted only when named; by default the whole access set
    but `manage:self`. A malformed or wider scope is `invalid_scope`. Linear in the scope."""
    if requested is None or requested == "":
        return sorted(p for p in available if p != MANAGE_SELF)
    if not isinstance(requested, str):
        raise OAuthError("invalid_scope", "scope must be a space-separated string.")
    wanted = list(dict.fromkeys(requested.split()))
    if not all(is_permission(w) for w in wanted):
        raise OAuthError("invalid_scope", "Each scope must be a permission like 'read:reports'.")
    matcher = Matcher(available)
    outside = [w for w in wanted if w != MANAGE_SELF and not matcher.allows(w)]
    if outside:
        raise OAuthError(
            "invalid_scope", f"Not in the agent's access set: {' '.join(sorted(outside))[:500]}."
        )
    return wanted


def _scope_expiry(scope: list[str], available: dict):
    """The earliest expiry among the grants that the scope relies on (None: none expires)."""
    matcher = Matcher(available)
    ends = []
    for wanted in scope:
        covering = matcher.covering(wanted)
        if covering and None not in covering:
            ends.append(max(covering))
    return min(ends) if ends else None


@dataclass(frozen=True)
class Issued:
    access_token: str
    expires_in: int
    scope: str
    refresh_token: str

    def as_dict(self) -> dict:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
            "refresh_token": self.refresh_token,
        }


def _issue(key: KeyRow, family: TokenFamily, scope: list[str], available: dict, now) -> Issued:
    """Sign an access token and make a refresh token in `family` (inside the caller's atomic)."""
    lifetime = dt.timedelta(seconds=settings.OAUTH_ACCESS_TOKEN_SECONDS)
    ends = [
        now + lifetime,
        key.expires_at,
        key.agent.expires_at,
        _scope_expiry(scope, available),
    ]
    expires_at = min(e for e in ends if e is not None)
    expires_in = max(int((expires_at - now).total_seconds()), 0)
    jti = uuid.uuid4()
    slug = key.tenant.slug
    claims = {
        "iss": tokens.issuer(slug),
        "sub": str(key.agent_id),
        "client_id": str(key.agent_id),
        "aud": tokens.audience(slug),
        "exp": int(now.timestamp()) + expires_in,
        "iat": int(now.timestamp()),
        "jti": str(jti),
        "scope": " ".join(scope),
        "tenant": slug,
    }
    token = signing.sign(claims)
    AccessToken.objects.create(
        jti=jti, family=family, issued_at=now, expires_at=now + dt.timedelta(seconds=expires_in)
    )
    public_id, refresh = keyformat.generate_refresh()
    pepper_id, digest = keyformat.digest(refresh)
    RefreshToken.objects.create(
        family=family,
        public_id=public_id,
        digest=digest,
        pepper_id=pepper_id,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=settings.OAUTH_REFRESH_TOKEN_SECONDS),
    )
    return Issued(token, expires_in, " ".join(scope), refresh)


def issue_client_credentials(key: KeyRow, requested_scope) -> Issued:
    """grant_type=client_credentials for an authenticated client key: a new token family."""
    now = timezone.now()
    available = _available(key, now)
    scope = resolve_scope(requested_scope, available)
    signing.signing_key()  # a first key is made outside this transaction
    with transaction.atomic():
        family = TokenFamily.objects.create(
            tenant=key.tenant,
            agent_id=key.agent_id,
            key_id=key.pk,
            scope=" ".join(scope),
            created_at=now,
        )
        return _issue(key, family, scope, available, now)


def refresh(tenant_slug: str, raw, ip, *, client_key: KeyRow | None = None) -> tuple[Issued, dict]:
    """grant_type=refresh_token: spend `raw`, answer a new access and refresh token.

    A spent token presented again revokes its whole family (audited `oauth.refresh_token_reused`).
    The spend is a guarded UPDATE (`used_at IS NULL`) under a row lock, so of concurrent uses
    exactly one wins and the others are `invalid_grant`, on SQLite as on PostgreSQL.
    """
    now = timezone.now()
    issued, refused = None, None
    with transaction.atomic():
        found = _find_refresh(raw, tenant_slug, lock=True)
        if found is None:
            raise invalid_grant()
        family = found.family
        if client_key is not None and client_key.agent_id != family.agent_id:
            raise invalid_grant("The refresh token was issued to another client.")
        if found.used_at is not None and family.revoked_at is None:
            actor = Actor.for_agent(family.agent_id, family.agent.name, ip)
            revoke_family(family, actor, now)
            record(
                family.tenant,
                actor,
                "oauth.refresh_token_reused",
                target=family.agent,
                metadata={"familyId": str(family.pk)},
            )
        elif found.used_at is None and family.revoked_at is None and found.expires_at > now:
            # The minting key's rules and the rate limit come before the spend: a refresh they
            # refuse leaves the token unspent (and its rejection audited, hence not raised here).
            try:
                key = clients.refresh_key(family.key.public_id, tenant_slug, ip, now)
                headers = spend(key, ip, presented=False)
            except ApiError as exc:
                refused = exc
            else:
                if RefreshToken.objects.filter(pk=found.pk, used_at__isnull=True).update(
                    used_at=now
                ):
                    available = _available(key, now)
                    matcher = Matcher(available)
                    scope = [
                        s for s in family.scope.split() if s == MANAGE_SELF or matcher.allows(s)
                    ]
                    issued = _issue(key, family, scope, available, now), headers
    # Raised after the transaction, so a replay's family revocation and an audited rejection
    # are kept.
    if refused is not None:
        raise refused
    if issued is None:
        raise invalid_grant()
    return issued

"""OAuth 2.0 (SPEC §10): token issuance, refresh, revocation, registration, signing keys.

Who may pass is decided in `access`: client authentication (`access.clients`), the refresh
checks, the rate limit, the access set and scope matching (`access.rules`), the token check
(`access.tokens`). Here are the grants and their tokens.
"""

import datetime as dt
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from access import clients, events, keyformat, ratelimit, signing, tokens
from access.actor import Actor
from access.keys import KeyRow, deprecation_headers
from access.rules import MANAGE_SELF, Matcher, expiries, is_permission, key_access_set
from agents import services as agent_services
from audit.services import record
from oauth.models import AccessToken, RefreshToken, SigningKey, TokenFamily
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


def _find_refresh(raw, tenant_slug: str, *, lock: bool):
    """The refresh token `raw` is in this tenant (with its family, agent and key), or None."""
    public_id = keyformat.parse_refresh(raw)
    if public_id is None:
        return None
    queryset = RefreshToken.objects.select_related(
        "family", "family__tenant", "family__agent", "family__key"
    )
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    found = queryset.filter(public_id=public_id).first()
    if (
        found is None
        or found.family.tenant.slug != tenant_slug
        or not keyformat.matches(raw, found.pepper_id, found.digest)
    ):
        return None
    return found


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


def revoke_family(family: TokenFamily, actor, now=None) -> None:
    """End every access and refresh token of one grant (inside the caller's transaction)."""
    TokenFamily.objects.filter(pk=family.pk, revoked_at__isnull=True).update(
        revoked_at=now or timezone.now()
    )


# --- introspection and revocation ---------------------------------------------------------


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


def client_summary(tenant, agent) -> dict:
    """What the agent page's "OAuth client" panel shows; one query (live access tokens)."""
    live = AccessToken.objects.filter(
        family__tenant=tenant,
        family__agent=agent,
        family__revoked_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).count()
    return {
        "client_id": str(agent.pk),
        "token_url": f"{tokens.issuer(tenant.slug)}/oauth/token",
        "lifetime": settings.OAUTH_ACCESS_TOKEN_SECONDS,
        "live_tokens": live,
    }


def tokens_issued_since(tenant, since) -> int:
    """Access tokens the tenant's agents were issued from `since` on (the overview's count)."""
    return AccessToken.objects.filter(family__tenant=tenant, issued_at__gte=since).count()


def revoke_agent_tokens(tenant, actor, agent) -> int:
    """Every token of `agent` stops working now; returns how many grants were open."""
    with transaction.atomic():
        count = tokens.end_tokens(agent_id=agent.pk)
        record(tenant, actor, "oauth.tokens_revoked", target=agent, metadata={"grants": count})
    return count


# --- dynamic client registration ----------------------------------------------------------

GRANT_TYPES = ("client_credentials", "refresh_token")
AUTH_METHODS = ("client_secret_basic", "client_secret_post")


def register_client(tenant, actor, *, client_name, scope, grant_types, auth_method) -> dict:
    """RFC 7591: an `integration` agent whose direct permissions are `scope`, and its first key
    (the client secret, shown once). Input is already validated by the view."""
    with transaction.atomic():
        agent, _key, secret = agent_services.create_agent(
            tenant, actor, name=client_name, type="integration", permissions=scope
        )
        record(
            tenant,
            actor,
            "oauth.client_registered",
            target=agent,
            metadata={"scope": scope, "grantTypes": grant_types, "authMethod": auth_method},
        )
    return {
        "client_id": str(agent.pk),
        "client_secret": secret,
        "client_id_issued_at": int(agent.created_at.timestamp()),
        "client_secret_expires_at": 0,
        "client_name": agent.name,
        "scope": " ".join(scope),
        "grant_types": grant_types,
        "token_endpoint_auth_method": auth_method,
    }


# --- housekeeping -------------------------------------------------------------------------

# Rows are kept a day past their expiry, so a clock a little behind never meets a missing row.
PRUNE_GRACE = dt.timedelta(days=1)


def prune_tokens(*, now=None) -> int:
    """Delete access and refresh tokens that expired more than a day ago, and the grants left
    with neither (a scheduled job of `runworker`). A spent refresh token stays until it expires,
    so presenting it again is still recognised as a replay until then. Returns rows deleted."""
    cutoff = (now or timezone.now()) - PRUNE_GRACE
    with transaction.atomic():
        access, _ = AccessToken.objects.filter(expires_at__lte=cutoff).delete()
        refresh, _ = RefreshToken.objects.filter(expires_at__lte=cutoff).delete()
        families, _ = TokenFamily.objects.filter(
            created_at__lte=cutoff, access__isnull=True, refresh__isnull=True
        ).delete()
    return access + refresh + families


# --- signing keys -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rotation:
    created: SigningKey
    retiring: list[tuple[str, dt.datetime]]  # (kid, retired_at) of the keys it replaces
    deleted: list[str]  # kids of keys retired before now, removed with their private parts


def rotate_signing_key(*, publish_for: int, token_seconds: int) -> Rotation:
    """Staged rotation (SPEC §10): publish a new key now, sign with it `publish_for` seconds
    from now, and retire every key it replaces once the last token they can still sign has
    expired: `token_seconds` after the switch, plus the `signing.TTL` a process may go on
    signing with a key set it loaded before the switch. Keys already retired are deleted."""
    now = timezone.now()
    starts = now + dt.timedelta(seconds=publish_for)
    retires = starts + dt.timedelta(seconds=signing.TTL + token_seconds)
    with transaction.atomic():
        deleted = list(SigningKey.objects.filter(retired_at__lte=now).values_list("kid", flat=True))
        SigningKey.objects.filter(kid__in=deleted).delete()
        replaced = SigningKey.objects.select_for_update().filter(
            Q(retired_at__isnull=True) | Q(retired_at__gt=retires)
        )
        retiring = [(kid, retires) for kid in replaced.values_list("kid", flat=True)]
        replaced.update(retired_at=retires)
        created = signing.create_key(signs_from=starts)
    signing.reset()
    return Rotation(created=created, retiring=retiring, deleted=deleted)

"""Access tokens on Tessera's own endpoints: the live check, and ending tokens (SPEC §10).

`authenticate_token` verifies the JWT (RS256 signature by a published key, `typ`, `iss` of this
tenant, `aud`, `exp`), then reads every piece of database state in ONE indexed statement: the
token row by its primary key `jti`, its family, the minting key, the key's tenant and agent. The
answer is the minting key's `KeyRow`, so the request acts as that key (rate limit, usage,
`/me/rotate` replaces it).
"""

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.utils import timezone

from access import keys, signing
from access.credentials import client_ip
from access.keys import KeyRow
from access.rules import MANAGE_SELF, ip_permitted
from portal import metrics
from portal.errors import Forbidden, Unauthorized

JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")


def looks_like_jwt(raw: str) -> bool:
    return bool(JWT_RE.fullmatch(raw or ""))


def issuer(tenant_slug: str) -> str:
    """`<PUBLIC_URL>/t/<tenant>/api/v1`: from settings, never from the Host header."""
    return f"{settings.PUBLIC_URL}/t/{tenant_slug}/api/v1"


def audience(tenant_slug: str) -> str:
    return settings.OAUTH_AUDIENCE or issuer(tenant_slug)


# Built once from constant column names; the only value is the bound %s.
SQL = f"""SELECT {keys.SELECTED}, k.revoked_by_rotation, tok.revoked_at,
 f.revoked_at, f.id, tok.expires_at
 FROM oauth_accesstoken tok JOIN oauth_tokenfamily f ON f.id = tok.family_id
 JOIN apikeys_apikey k ON k.id = f.key_id JOIN tenants_tenant t ON t.id = k.tenant_id
 LEFT JOIN agents_agent a ON a.id = k.agent_id WHERE tok.jti = %s"""  # noqa: S608
KEY_COLUMNS = len(keys.COLUMNS)


@dataclass(frozen=True, slots=True)
class TokenState:
    key: KeyRow
    key_rotated: bool  # revoked by a rotation: its tokens live on until they expire
    token_revoked: bool
    family_revoked: bool
    family_id: uuid.UUID

    def problem(self, tenant_slug: str, now: datetime) -> str | None:
        """Why the token may not be used now, or None."""
        key, agent = self.key, self.key.agent
        if key.tenant.slug != tenant_slug or agent is None:
            return "wrong_tenant"
        if self.token_revoked or self.family_revoked:
            return "token_revoked"
        if key.status == "revoked" and not self.key_rotated:
            return "key_revoked"
        if not agent.is_active:
            return "agent_inactive"
        if agent.is_expired(now):
            return "agent_expired"
        return None


def fetch_state(jti) -> TokenState | None:
    """The one statement of the live check: the token, its family and key, tenant and agent."""
    with connection.cursor() as cursor:
        cursor.execute(SQL, [_db_uuid(jti)])
        row = cursor.fetchone()
    if row is None:
        return None
    key = keys.key_row(row[:KEY_COLUMNS])
    rotated, token_revoked, family_revoked, family_id, _ = row[KEY_COLUMNS:]
    return TokenState(
        key=key,
        key_rotated=bool(rotated),
        token_revoked=token_revoked is not None,
        family_revoked=family_revoked is not None,
        family_id=keys.as_uuid(family_id),
    )


def _db_uuid(value: uuid.UUID):
    # SQLite stores UUIDs as 32 hex digits; PostgreSQL takes the UUID itself.
    return value.hex if connection.vendor == "sqlite" else value


def verify_claims(
    token, tenant_slug: str | None, now: datetime, *, allow_expired=False
) -> dict | None:
    """The claims of a signature-checked token if `typ`, `iss`, `aud`, `exp`, `jti` hold."""
    if token is None or token.header.get("typ") != "at+jwt":
        return None
    claims = token.claims
    slug = tenant_slug if tenant_slug is not None else claims.get("tenant")
    if not isinstance(slug, str) or claims.get("tenant") != slug:
        return None
    if claims.get("iss") != issuer(slug) or claims.get("aud") != audience(slug):
        return None
    exp = claims.get("exp")
    if not isinstance(exp, int) or (exp <= now.timestamp() and not allow_expired):
        return None
    try:
        claims["_jti"] = uuid.UUID(str(claims.get("jti")))
    except ValueError:
        return None
    return claims


def check(raw: str, tenant_slug: str, now=None) -> tuple[dict, TokenState] | None:
    """Full live check of an access token for `tenant_slug`: `(claims, state)`, or None."""
    now = now or timezone.now()
    claims = verify_claims(signing.decode(raw), tenant_slug, now)
    if claims is None:
        return None
    state = fetch_state(claims["_jti"])
    if state is None or state.problem(tenant_slug, now):
        return None
    return claims, state


@metrics.counts_authentication("oauth_token")
def authenticate_token(request, tenant_slug: str, raw: str) -> KeyRow:
    """The minting key of a live access token presented to tenant `tenant_slug`, or 401/403."""
    found = check(raw, tenant_slug)
    if found is None:
        raise Unauthorized("The access token is invalid, expired or revoked.")
    key = found[1].key
    if not ip_permitted(key, client_ip(request)):
        raise Forbidden("Requests from this IP address are not allowed for this key.")
    request.oauth_claims = found[0]
    return key


def may_manage_self(request) -> bool:
    """A key may always replace or deactivate its own agent; an access token only with the
    `manage:self` scope (SPEC §10 "A token is not its key")."""
    claims = getattr(request, "oauth_claims", None)
    return claims is None or MANAGE_SELF in str(claims.get("scope", "")).split()


def end_tokens(*, agent_id=None, key_id=None, now=None) -> int:
    """End every token family of an agent or minted by a key, now (inside the caller's
    transaction): deactivating an agent, a leak report. Returns how many were open."""
    families = apps.get_model("oauth", "TokenFamily").objects.filter(revoked_at__isnull=True)
    if agent_id is not None:
        families = families.filter(agent_id=agent_id)
    if key_id is not None:
        families = families.filter(key_id=key_id)
    return families.update(revoked_at=now or timezone.now())

"""OAuth 2.0 (SPEC §10): token issuance, refresh, revocation, registration, signing keys, one
module per resource: `clients` (registration, the client panel), `issuance` (scopes, tokens,
refresh), `revocation` (families, tokens, introspection, counts) and `housekeeping` (pruning token
rows, rotating signing keys); `_common` holds what they share. Callers use this package
(`from oauth import services`); a test that replaces a function patches it in the module that
calls it.

Who may pass is decided in `access`: client authentication (`access.clients`), the refresh
checks, the rate limit, the access set and scope matching (`access.rules`), the token check
(`access.tokens`). Here are the grants and their tokens.
"""

from .clients import (
    AUTH_METHODS,
    GRANT_TYPES,
    client_summary,
    register_client,
)
from .housekeeping import (
    PRUNE_GRACE,
    Rotation,
    prune_tokens,
    rotate_signing_key,
)
from .issuance import (
    Issued,
    issue_client_credentials,
    refresh,
    resolve_scope,
    spend,
)
from .revocation import (
    introspect,
    revoke_agent_tokens,
    revoke_family,
    revoke_token,
    tokens_issued_since,
)

__all__ = [
    "AUTH_METHODS",
    "GRANT_TYPES",
    "Issued",
    "PRUNE_GRACE",
    "Rotation",
    "client_summary",
    "introspect",
    "issue_client_credentials",
    "prune_tokens",
    "refresh",
    "register_client",
    "resolve_scope",
    "revoke_agent_tokens",
    "revoke_family",
    "revoke_token",
    "rotate_signing_key",
    "spend",
    "tokens_issued_since",
]

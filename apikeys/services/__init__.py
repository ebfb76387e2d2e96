"""API key lifecycle. Every rule and every write for keys lives here, one module per resource:
`keys` (minting, changing, deleting; the scope checks) and `lifecycle` (rotating, deprecating,
activating, revoking, leaks); `_common` holds the helpers they share. Callers use this package
(`from apikeys import services`); a test that replaces a function patches it in the module that
calls it.

Each service is one transaction that locks the key row (`select_for_update`), checks the state
after locking, and records its audit event inside the same transaction. The plaintext key is
returned to the caller exactly once and is never stored, logged or audited.
"""

from access.rules import ADMIN_SCOPES

from .keys import (
    UPDATABLE,
    check_no_escalation,
    delete_key,
    mint_key,
    update_key,
)
from .lifecycle import (
    MAX_GRACE_SECONDS,
    activate_key,
    deprecate_key,
    replace_keys,
    revoke_key,
    revoke_leaked_key,
    revoke_rotated_key,
    rotate_key,
)

__all__ = [
    "ADMIN_SCOPES",
    "MAX_GRACE_SECONDS",
    "UPDATABLE",
    "activate_key",
    "check_no_escalation",
    "delete_key",
    "deprecate_key",
    "mint_key",
    "replace_keys",
    "revoke_key",
    "revoke_leaked_key",
    "revoke_rotated_key",
    "rotate_key",
    "update_key",
]

"""Agents, roles and grants: every rule and every write, one module per resource: `agents`,
`keys` (an agent's keys: minting, rotating), `grants`, `roles`; `_common` holds the helpers they
share. Callers use this package (`from agents import services`); a test that replaces a function
patches it in the module that calls it.

Each service is one `transaction.atomic()` that locks the rows it changes, checks their state
after locking, and records its audit event inside the same transaction. Key lifecycles are
delegated to `apikeys.services` (which record the `api_key.*` events); plaintext keys are
returned to the caller once and never stored, logged or audited.
"""

from .agents import (
    FIRST_KEY_NAME,
    create_agent,
    delete_agent,
    set_agent_active,
    update_agent,
)
from .grants import (
    create_grant,
    revoke_grant,
)
from .keys import (
    mint_agent_key,
    rotate_agent_keys,
)
from .roles import (
    create_role,
    delete_role,
    role_holders,
    update_role,
)

__all__ = [
    "FIRST_KEY_NAME",
    "create_agent",
    "create_grant",
    "create_role",
    "delete_agent",
    "delete_role",
    "mint_agent_key",
    "revoke_grant",
    "role_holders",
    "rotate_agent_keys",
    "set_agent_active",
    "update_agent",
    "update_role",
]

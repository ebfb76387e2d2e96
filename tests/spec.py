"""SPEC.md §5/§6a field sets, shared by every test that checks a response's exact shape."""

KEY_FIELDS = {
    "id",
    "name",
    "prefix",
    "kind",
    "agentId",
    "status",
    "scopes",
    "expiresAt",
    "lastUsedAt",
    "lastUsedIp",
    "createdAt",
    "createdBy",
    "deprecatedAt",
    "revokedAt",
    "rotatedFromId",
    "replacedById",
    "rateLimitPerMinute",
    "allowedIps",
    "note",  # additive (issue 12): a free-text note to tell keys apart
    "meta",  # SPEC §15
    "permissions",  # §15: an agent key's own permissions (null: all of its agent's)
    "quota",  # §15
}
AGENT_FIELDS = {
    "id",
    "name",
    "description",
    "type",
    "roles",
    "permissions",
    "isActive",
    "allowedIps",
    "expiresAt",
    "lastUsedAt",
    "rateLimitPerMinute",
    "quota",  # §15
    "createdAt",
    "updatedAt",
    "keys",
}
ROLE_FIELDS = {"slug", "name", "permissions", "createdAt"}
# §5, and the audit chain's two hashes of §13.
EVENT_FIELDS = {"id", "occurredAt", "action", "actor", "target", "ip", "userAgent", "metadata"}
EVENT_FIELDS |= {"prevHash", "hash"}
VERIFY_FIELDS = {
    "valid",
    "code",
    "keyId",
    "agentId",
    "agent",
    "permissions",
    "deprecated",
    "expiresAt",
    "meta",  # SPEC §15: the key's meta merged over its agent's
}

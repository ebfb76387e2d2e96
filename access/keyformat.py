"""The API key format, and the only code that sees a key's secret.

A key is ``<type prefix><public id><secret><checksum>``:

- type prefix: ``lmk_`` (admin) or ``sk_agent_live_`` (agent);
- public id: 12 base62 characters (about 71 random bits), stored in clear and indexed;
- secret: 43 base62 characters encoding 256 bits from :mod:`secrets`;
- checksum: CRC32 of everything before it, as 6 base62 characters.

:func:`parse` rejects a mistyped, truncated or foreign string using only string operations and
one CRC32, so a malformed key never costs a database query. :func:`digest` is the keyed
HMAC-SHA256 that is stored; :func:`matches` compares in constant time. The pepper is a server
secret distinct from ``SECRET_KEY``; several may be configured (newest first) and every stored
digest records which one (``pepper_id``) made it.
"""

import hashlib
import hmac
import re
import secrets
import zlib
from dataclasses import dataclass
from functools import cache

from django.conf import settings

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TYPE_PREFIXES = {"admin": "lmk_", "agent": "sk_agent_live_"}
KIND_BY_PREFIX = {v: k for k, v in TYPE_PREFIXES.items()}
PUBLIC_ID_LEN = 12
SECRET_LEN = 43  # 62**43 > 2**256
CHECKSUM_LEN = 6  # 62**6 > 2**32
_KEY_RE = re.compile(
    rf"(lmk_|sk_agent_live_)([0-9A-Za-z]{{{PUBLIC_ID_LEN}}})"
    rf"([0-9A-Za-z]{{{SECRET_LEN}}})([0-9A-Za-z]{{{CHECKSUM_LEN}}})"
)
MAX_KEY_LEN = len("sk_agent_live_") + PUBLIC_ID_LEN + SECRET_LEN + CHECKSUM_LEN


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        chars.append(ALPHABET[rem])
    if number:
        raise ValueError("number does not fit")
    return "".join(reversed(chars))


def _random_base62(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LEN)


@dataclass(frozen=True, slots=True)
class ParsedKey:
    kind: str
    public_id: str
    full: str

    @property
    def prefix(self) -> str:
        return TYPE_PREFIXES[self.kind] + self.public_id


def generate(kind: str) -> ParsedKey:
    """Make a new key of ``kind``; the caller shows ``.full`` once and stores only its digest."""
    public_id, full = _generate(TYPE_PREFIXES[kind])
    return ParsedKey(kind=kind, public_id=public_id, full=full)


def _generate(type_prefix: str) -> tuple[str, str]:
    public_id = _random_base62(PUBLIC_ID_LEN)
    secret = _base62(secrets.randbits(256), SECRET_LEN)
    body = type_prefix + public_id + secret
    return public_id, body + checksum(body)


def _match(raw, pattern, max_len):
    """``(type prefix, public id)`` of a well-formed ``raw`` with a good checksum, else None."""
    if not isinstance(raw, str) or len(raw) > max_len:
        return None
    match = pattern.fullmatch(raw)
    if match is None:
        return None
    type_prefix, public_id, _secret, check = match.groups()
    if not hmac.compare_digest(checksum(raw[:-CHECKSUM_LEN]), check):
        return None
    return type_prefix, public_id


def parse(raw: str) -> ParsedKey | None:
    """Return the parsed key, or None if ``raw`` is not a well-formed key.

    Costs no query: shape, length and checksum are checked in memory. Never logs ``raw``.
    """
    found = _match(raw, _KEY_RE, MAX_KEY_LEN)
    if found is None:
        return None
    return ParsedKey(kind=KIND_BY_PREFIX[found[0]], public_id=found[1], full=raw)


# OAuth refresh tokens (SPEC §10) have the same shape under their own prefix. It is not a key
# type: an `rt_` string never authenticates an API request.
REFRESH_PREFIX = "rt_"
_REFRESH_RE = re.compile(
    rf"(rt_)([0-9A-Za-z]{{{PUBLIC_ID_LEN}}})"
    rf"([0-9A-Za-z]{{{SECRET_LEN}}})([0-9A-Za-z]{{{CHECKSUM_LEN}}})"
)
MAX_REFRESH_LEN = len(REFRESH_PREFIX) + PUBLIC_ID_LEN + SECRET_LEN + CHECKSUM_LEN


def generate_refresh() -> tuple[str, str]:
    """``(public id, full token)`` of a new refresh token; store only its digest."""
    return _generate(REFRESH_PREFIX)


def parse_refresh(raw) -> str | None:
    """The public id of a well-formed refresh token, else None (no query)."""
    found = _match(raw, _REFRESH_RE, MAX_REFRESH_LEN)
    return found[1] if found else None


def looks_like_key(value: str) -> bool:
    """True for anything starting with a key type prefix (used to refuse keys in URLs)."""
    return any(p in value for p in TYPE_PREFIXES.values())


_PREFIX_ONLY_RE = re.compile(rf"(lmk_|sk_agent_live_)[0-9A-Za-z]{{0,{PUBLIC_ID_LEN}}}")


def is_prefix_only(value: str) -> bool:
    """True for a key's public prefix (or the start of one) and nothing more: what a person
    searches for (`?q=lmk_AbC`). It holds no secret, so it may be in a URL; a full key never
    matches (its secret follows the public id)."""
    return _PREFIX_ONLY_RE.fullmatch(value.strip()) is not None


@cache
def _peppers() -> dict[str, bytes]:
    """pepper_id -> pepper, newest first. The id is a keyed fingerprint, not the pepper."""
    out = {}
    for pepper in settings.API_KEY_PEPPERS:
        raw = pepper.encode()
        pid = hmac.new(raw, b"tessera-pepper-id", hashlib.sha256).hexdigest()[:8]
        out[pid] = raw
    return out


def current_pepper_id() -> str:
    return next(iter(_peppers()))


def digest(full_key: str, pepper_id: str | None = None) -> tuple[str, str]:
    """Return ``(pepper_id, hex HMAC-SHA256)`` of the key under that pepper (default newest)."""
    peppers = _peppers()
    pid = pepper_id or current_pepper_id()
    return pid, hmac.new(peppers[pid], full_key.encode("ascii"), hashlib.sha256).hexdigest()


def matches(full_key: str, pepper_id: str, stored_digest: str) -> bool:
    """Constant-time check of a presented key against a stored digest."""
    if pepper_id not in _peppers():
        return False
    _, candidate = digest(full_key, pepper_id)
    return hmac.compare_digest(candidate, stored_digest)


def reset_pepper_cache() -> None:
    _peppers.cache_clear()


# A key's kinds and states, as `apikeys.models.ApiKey.Kind` / `.Status` store them.
ADMIN, AGENT = "admin", "agent"
ACTIVE, DEPRECATED, REVOKED = "active", "deprecated", "revoked"

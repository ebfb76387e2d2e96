"""The deployment's RS256 signing keys (SPEC §10), held in process memory for a short while.

Keys live in `SigningKey` rows with the private JWK encrypted by Fernet under the setting
`OAUTH_KEY_ENCRYPTION_KEY`. The set is read with one query and kept for `TTL` seconds, so the
JWKS, signing and verification cost no query on most requests; a token whose `kid` is not in
memory makes one early reload (at most once per `RELOAD_FLOOR` seconds), so a key that another
process just created is found at once. The first key is created lazily: two processes racing to
create it each publish one; both stay in the JWKS and every process then signs with the same,
newest one.

Rotation is staged (`oauth.services.rotate_signing_key`, `manage.py rotatesigningkey`): the new
key is published at once but signs only from `signs_from`, once every JWKS cache (ours for `TTL`,
resource servers' for the document's max-age) has seen it; the keys it replaces sign until then
and stay published until every token they signed has expired (`retired_at`), after which the
next rotation deletes their rows.
"""

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from cryptography.fernet import Fernet
from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

TTL = 60
# How long resource servers may cache the JWKS document (its Cache-Control max-age).
JWKS_MAX_AGE = 300
RELOAD_FLOOR = 5
ALGORITHM = "RS256"
PUBLIC_PARAMS = ("kty", "n", "e")

_lock = threading.Lock()
_state: dict = {"loaded": None, "keys": (), "tried": 0.0}
_clock = time.monotonic


def _model():
    # By name: `access` sits below the feature apps and imports none of them.
    return apps.get_model("oauth", "SigningKey")


@dataclass(frozen=True, slots=True)
class Loaded:
    kid: str
    public: dict
    signs_from: datetime
    retired_at: datetime | None
    encrypted: str


def _fernet() -> Fernet:
    return Fernet(settings.OAUTH_KEY_ENCRYPTION_KEY.encode())


def public_jwk(key: RSAKey, kid: str) -> dict:
    """Only the public parameters, whatever the key object carries."""
    values = key.as_dict(private=False)
    return {
        **{p: values[p] for p in PUBLIC_PARAMS},
        "kid": kid,
        "use": "sig",
        "alg": ALGORITHM,
    }


def create_key(*, signs_from=None):
    """Generate and store a new RSA key; it signs from `signs_from` (default now)."""
    key = RSAKey.generate_key(2048, private=True)
    kid = key.thumbprint()
    encrypted = _fernet().encrypt(jwk_json(key).encode()).decode()
    with transaction.atomic():
        row = _model().objects.create(
            kid=kid,
            public_jwk=public_jwk(key, kid),
            private_jwk_encrypted=encrypted,
            signs_from=signs_from or timezone.now(),
        )
    reset()
    return row


def jwk_json(key: RSAKey) -> str:
    import json

    return json.dumps(key.as_dict(private=True))


def _load(force=False) -> tuple[Loaded, ...]:
    now = _clock()
    loaded = _state["loaded"]
    if loaded is not None and not force and now - loaded < TTL:
        return _state["keys"]
    with _lock:
        rows = _model().objects.values_list(
            "kid", "public_jwk", "signs_from", "retired_at", "private_jwk_encrypted"
        )
        keys = tuple(Loaded(*row) for row in rows)
        _state.update(loaded=now, keys=keys, tried=now)
        _private.clear()
        _public.clear()
    return keys


_private: dict = {}
_public: dict = {}  # kid → KeySet, built once per key set loaded


def _private_key(loaded: Loaded) -> RSAKey:
    key = _private.get(loaded.kid)
    if key is None:
        import json

        key = RSAKey.import_key(json.loads(_fernet().decrypt(loaded.encrypted.encode())))
        _private[loaded.kid] = key
    return key


def reset() -> None:
    """Forget the keys held in memory (tests; after creating a key)."""
    _state.update(loaded=None, keys=(), tried=0.0)
    _private.clear()
    _public.clear()


def _signers(keys, now) -> list[Loaded]:
    """Keys allowed to sign at `now`: started, and not retired (a key being replaced keeps
    signing until its successor starts; it is retired well after that)."""
    return [k for k in keys if k.signs_from <= now and (k.retired_at is None or k.retired_at > now)]


def signing_key() -> Loaded:
    """The newest key that signs now, creating the first one if there is none."""
    now = timezone.now()
    live = _signers(_load(), now)
    if not live:
        live = _signers(_load(force=True), now)
    if not live:
        create_key()
        now = timezone.now()
        live = _signers(_load(force=True), now)
    return max(live, key=lambda k: (k.signs_from, k.kid))


def published() -> list[dict]:
    """The public JWKs of every key not retired: the JWKS document's `keys`."""
    now = timezone.now()
    keys = [k.public for k in _load() if k.retired_at is None or k.retired_at > now]
    if not keys:  # before the first token: publish the key that will sign it
        signing_key()
        keys = [k.public for k in _load() if k.retired_at is None or k.retired_at > now]
    return keys


def sign(claims: dict) -> str:
    loaded = signing_key()
    header = {"alg": ALGORITHM, "typ": "at+jwt", "kid": loaded.kid}
    return jwt.encode(header, claims, _private_key(loaded), algorithms=[ALGORITHM])


def _keyset(kid: str) -> KeySet | None:
    now = timezone.now()

    def find(keys):
        for k in keys:
            if k.kid == kid and (k.retired_at is None or k.retired_at > now):
                return k
        return None

    found = find(_load())
    if found is None and _clock() - _state["tried"] >= RELOAD_FLOOR:
        found = find(_load(force=True))
    if found is None:
        return None
    keyset = _public.get(found.kid)
    if keyset is None:  # importing a JWK (base64 to integers) costs more than the check itself
        keyset = _public[found.kid] = KeySet([RSAKey.import_key(found.public)])
    return keyset


def decode(token: str):
    """Verify an RS256 signature by a published key; returns joserfc's Token or None.

    Only RS256 is accepted: `alg: none`, HS256 (signed with the public key as an HMAC secret)
    and every other algorithm fail here, as does a `kid` that is not published.
    """
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError, TypeError):
        return None
    if header.get("alg") != ALGORITHM or not isinstance(header.get("kid"), str):
        return None
    keyset = _keyset(header["kid"])
    if keyset is None:
        return None
    try:
        return jwt.decode(token, keyset, algorithms=[ALGORITHM])
    except (JoseError, ValueError, TypeError):
        return None

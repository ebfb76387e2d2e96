"""`manage.py rotatesigningkey` (SPEC §10): publish, then sign, then retire.

Time passing is simulated by moving the signing keys' own timestamps back (`elapse`), so the
tokens themselves stay fresh and their `exp` is checked for real.
"""

import datetime as dt
import io

import jwt
import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from access import signing
from oauth.models import SigningKey
from tests.oauth.conftest import API, bearer, get_token

JWKS = f"{API}/.well-known/jwks.json"
ISSUER = "http://127.0.0.1:8000/t/acme-corp/api/v1"


def rotate(*args) -> str:
    out = io.StringIO()
    call_command("rotatesigningkey", *args, stdout=out)
    return out.getvalue()


def elapse(seconds: int) -> None:
    """The keys' clock moves `seconds` forward: their moments move as far back."""
    delta = dt.timedelta(seconds=seconds)
    for key in SigningKey.objects.all():
        key.created_at -= delta
        key.signs_from -= delta
        if key.retired_at:
            key.retired_at -= delta
        key.save()
    signing.reset()


def jwks() -> dict:
    response = Client().get(JWKS)
    assert response.status_code == 200
    return response.json()


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def verify_offline(token: str) -> dict:
    """What a resource server does: the key by `kid` from the published JWKS, then the claims."""
    keys = {k.key_id: k for k in jwt.PyJWKSet.from_dict(jwks()).keys}
    return jwt.decode(
        token, keys[kid_of(token)].key, algorithms=["RS256"], audience=ISSUER, issuer=ISSUER
    )


def token(client_id, secret) -> str:
    response = get_token(client_id, secret)
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def accepted(access_token) -> bool:
    return Client().get(f"{API}/agents/me", headers=bearer(access_token)).status_code == 200


def test_a_staged_rotation_publishes_first_then_signs_then_retires(client_id, secret):
    old = token(client_id, secret)
    old_kid = kid_of(old)

    printed = rotate()
    (new_key,) = SigningKey.objects.exclude(kid=old_kid)
    assert f"published {new_key.kid}" in printed and f"retiring {old_kid}" in printed
    # Published at once, both keys in the JWKS, no private part in either.
    published = jwks()["keys"]
    assert {k["kid"] for k in published} == {old_kid, new_key.kid}
    assert all(set(k) == {"kty", "n", "e", "kid", "use", "alg"} for k in published)
    # ... but the old key still signs until caches have seen the new one (JWKS max-age + TTL).
    assert kid_of(token(client_id, secret)) == old_kid

    elapse(signing.JWKS_MAX_AGE + signing.TTL)
    fresh = token(client_id, secret)
    assert kid_of(fresh) == new_key.kid
    # The token signed by the old key keeps verifying, offline and live.
    assert verify_offline(old)["jti"] and verify_offline(fresh)["jti"]
    assert accepted(old) and accepted(fresh)

    # The old key leaves the JWKS only once every token it signed has expired.
    old_row = SigningKey.objects.get(kid=old_kid)
    new_row = SigningKey.objects.get(kid=new_key.kid)
    assert old_row.retired_at - new_row.signs_from >= dt.timedelta(seconds=3600 + signing.TTL)
    elapse(3600)
    assert {k["kid"] for k in jwks()["keys"]} == {old_kid, new_key.kid}
    elapse(signing.TTL + 1)
    assert {k["kid"] for k in jwks()["keys"]} == {new_key.kid}
    assert not accepted(old)  # its key is gone (in real time it would have expired too)
    assert accepted(fresh)

    # The next rotation deletes the retired key, private part and all.
    printed = rotate()
    assert f"deleted {old_kid}" in printed
    assert not SigningKey.objects.filter(kid=old_kid).exists()


def test_publish_for_zero_signs_with_the_new_key_at_once(client_id, secret):
    old_kid = kid_of(token(client_id, secret))
    rotate("--publish-for", "0")
    (new_key,) = SigningKey.objects.exclude(kid=old_kid)
    assert kid_of(token(client_id, secret)) == new_key.kid
    assert {k["kid"] for k in jwks()["keys"]} == {old_kid, new_key.kid}


def test_rotating_twice_keeps_one_signer_at_a_time(client_id, secret):
    first = kid_of(token(client_id, secret))
    rotate("--publish-for", "0")
    rotate("--publish-for", "0")
    kids = set(SigningKey.objects.values_list("kid", flat=True))
    assert len(kids) == 3 and first in kids
    newest = SigningKey.objects.order_by("-signs_from", "-created_at").first()
    assert kid_of(token(client_id, secret)) == newest.kid
    assert {k["kid"] for k in jwks()["keys"]} == kids


def test_rotation_works_before_any_key_exists(db):
    printed = rotate("--publish-for", "0")
    assert printed.startswith("published ")
    assert SigningKey.objects.count() == 1


def test_a_negative_publish_time_is_refused(db):
    with pytest.raises(CommandError):
        rotate("--publish-for", "-1")
    assert not SigningKey.objects.exists()

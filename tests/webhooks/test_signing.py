import datetime as dt

import pytest
from standardwebhooks.webhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from webhooks import signing


def test_signature_verifies_with_the_standardwebhooks_package():
    secret = signing.new_secret()
    now = int(dt.datetime.now(dt.UTC).timestamp())
    body = '{"type":"api_key.revoked","timestamp":"x","data":{}}'
    headers = signing.headers([secret], "msg_1", now, body)
    assert Verifier(secret).verify(body, headers) == {
        "type": "api_key.revoked",
        "timestamp": "x",
        "data": {},
    }


def test_two_signatures_during_grace_each_verify_with_its_secret():
    old, new = signing.new_secret(), signing.new_secret()
    now = int(dt.datetime.now(dt.UTC).timestamp())
    body = "{}"
    headers = signing.headers([new, old], "msg_2", now, body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Verifier(old).verify(body, headers)
    Verifier(new).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Verifier(signing.new_secret()).verify(body, headers)


def test_tampered_body_fails_verification():
    secret = signing.new_secret()
    now = int(dt.datetime.now(dt.UTC).timestamp())
    headers = signing.headers([secret], "msg_3", now, '{"a":1}')
    with pytest.raises(WebhookVerificationError):
        Verifier(secret).verify('{"a":2}', headers)


def test_secret_is_stored_encrypted_never_in_clear(tenant, make_hook):
    hook, secret = make_hook("http://127.0.0.1:9/")
    assert secret.startswith("whsec_")
    assert secret not in hook.secret_encrypted
    assert signing.decrypt(hook.secret_encrypted) == secret

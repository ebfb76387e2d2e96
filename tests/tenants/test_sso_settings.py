"""OIDC_PROVIDERS (SPEC §14) configures allauth's OpenID Connect apps and the CSP."""

import json

from tests.portal.test_settings import load_settings

PROVIDERS = [
    {
        "id": "okta",
        "name": "Okta",
        "issuer": "https://acme.okta.example/oauth2/default",
        "clientId": "tessera",
        "clientSecret": "s3cret",
    }
]


def test_each_provider_becomes_an_openid_connect_app_and_a_form_action_origin():
    settings = load_settings(DEBUG="true", OIDC_PROVIDERS=json.dumps(PROVIDERS))
    (app,) = settings["SOCIALACCOUNT_PROVIDERS"]["openid_connect"]["APPS"]
    assert app == {
        "provider_id": "okta",
        "name": "Okta",
        "client_id": "tessera",
        "secret": "s3cret",
        "settings": {"server_url": "https://acme.okta.example/oauth2/default"},
    }
    assert "https://acme.okta.example" in str(settings["SECURE_CSP"])


def test_without_providers_there_is_no_sso():
    settings = load_settings(DEBUG="true")
    assert settings["SOCIALACCOUNT_PROVIDERS"]["openid_connect"]["APPS"] == []


def test_a_malformed_list_is_refused_at_start():
    bad = [{**PROVIDERS[0], "clientSecret": None, "extra": 1}]
    settings = load_settings(DEBUG="true", OIDC_PROVIDERS=json.dumps(bad))
    assert settings["error"] == "ImproperlyConfigured"
    assert "OIDC_PROVIDERS" in settings["message"]

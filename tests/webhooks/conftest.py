import pytest
from django.test import override_settings

from access.actor import Actor
from webhooks import services


@pytest.fixture
def private_targets():
    """The receiver runs on 127.0.0.1: lift the public-address check (as for intranets)."""
    with override_settings(WEBHOOK_ALLOW_PRIVATE_TARGETS=True):
        yield


@pytest.fixture
def make_hook(tenant, private_targets):
    def make(url, **kwargs):
        # Tests hear only what they ask for (the default hears just `webhook.test`).
        kwargs.setdefault("event_types", ["webhook.test"])
        return services.create_webhook(tenant, Actor.system("tests"), url=url, **kwargs)

    return make

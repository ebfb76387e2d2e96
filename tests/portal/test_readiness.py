"""/readyz (SPEC §13): 200 only when the database and, if configured, Redis answer; else 503
naming which is down. /healthz keeps SPEC §9's meaning (tests/portal/test_serving.py)."""

from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.test import Client, override_settings

from portal import outage

pytestmark = pytest.mark.django_db

REDIS = "redis://127.0.0.1:6379/10"
NO_REDIS = "redis://127.0.0.1:1/10"  # nothing listens on port 1


@pytest.fixture(autouse=True)
def _fresh_outage_state():
    outage.recovered()
    yield
    outage.recovered()


def redis_cache(url):
    return override_settings(
        CACHES={
            "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
        },
        USAGE_REDIS_URL="",
    )


def test_ready_when_the_database_answers_and_no_redis_is_configured(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}
    assert "no-cache" in response["Cache-Control"]


def test_not_ready_when_the_database_is_down(client):
    with mock.patch.object(connection, "cursor", side_effect=OperationalError("refused")):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "down"},
        "down": ["database"],
    }


def test_ready_when_redis_answers_too(client):
    with redis_cache(REDIS):
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_not_ready_when_redis_is_down_and_the_url_is_not_told(client, caplog):
    with redis_cache(NO_REDIS):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "redis": "down"}
    assert response.json()["down"] == ["redis"]
    assert NO_REDIS not in response.content.decode() + caplog.text


def test_the_usage_buffers_redis_is_checked_as_well(client, settings):
    settings.USAGE_REDIS_URL = NO_REDIS
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["down"] == ["redis"]


def test_both_down_are_both_named(client):
    with (
        redis_cache(NO_REDIS),
        mock.patch.object(connection, "cursor", side_effect=OperationalError("refused")),
    ):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["down"] == ["database", "redis"]


def test_probes_and_scrapers_are_not_redirected_to_https():
    with override_settings(SECURE_SSL_REDIRECT=True, METRICS_TOKEN="t" * 20):
        assert Client().get("/readyz").status_code == 200
        assert (
            Client().get("/metrics", headers={"Authorization": "Bearer " + "t" * 20}).status_code
            == 200
        )
        assert Client().get("/t/acme-corp/portal/").status_code == 301

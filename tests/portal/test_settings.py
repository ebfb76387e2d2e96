"""Settings read from the environment: secrets required in production, secure defaults, parsing.

portal.settings is imported in a fresh interpreter with only the variables a test names, so the
test process's own settings (tests/settings.py) cannot leak in.
"""

import base64
import json
import os
import secrets
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from django.middleware.csrf import CsrfViewMiddleware
from django.test import override_settings
from django.utils.module_loading import import_string

from access import keyformat
from apikeys.models import ApiKey
from tests.conftest import mint_admin_key

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "prod-" + secrets.token_urlsafe(48),
    "API_KEY_PEPPER": "pepper-" + secrets.token_urlsafe(48),
    "WEBHOOK_SECRET_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    "OAUTH_KEY_ENCRYPTION_KEY": "dGVzdC1vbmx5LW9hdXRoLWVuY3J5cHRpb24ta2V5ISE=",
    "ALLOWED_HOSTS": "tessera.example.com",
}
_DUMP = """
import json, os
import environ
# A developer's .env must not leak into these tests either.
environ.FileAwareEnv.read_env = classmethod(lambda cls, *args, **kwargs: None)
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
from django.conf import settings
try:
    settings.DEBUG
except Exception as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
else:
    print(json.dumps({k: getattr(settings, k) for k in dir(settings) if k.isupper()}, default=str))
"""


def clean_env(**env):
    """Only PATH and HOME from this process, plus `env`: no SECRET_KEY, DEBUG, DATABASE_URL..."""
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), **env}


@cache
def _load(env_items):
    out = subprocess.run(
        [sys.executable, "-c", _DUMP],
        cwd=ROOT,
        env=clean_env(**dict(env_items)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def load_settings(**env):
    """portal.settings as imported with exactly `env`: a dict of its settings, or its error."""
    return _load(tuple(sorted(env.items())))


def production(**overrides):
    return load_settings(**{**PRODUCTION, **overrides})


# Secrets


@pytest.mark.parametrize(
    "name",
    ["SECRET_KEY", "API_KEY_PEPPER", "WEBHOOK_SECRET_ENCRYPTION_KEY", "OAUTH_KEY_ENCRYPTION_KEY"],
)
def test_each_secret_is_required_when_debug_is_off(name):
    env = {k: v for k, v in PRODUCTION.items() if k != name}
    result = load_settings(**env)
    assert result["error"] == "ImproperlyConfigured"
    assert name in result["message"]


def test_debug_is_off_unless_enabled_so_a_bare_environment_refuses_to_start():
    result = load_settings()
    assert result["error"] == "ImproperlyConfigured"


def test_debug_runs_without_configured_secrets_using_dev_only_values():
    result = load_settings(DEBUG="true")
    assert "error" not in result
    assert result["DEBUG"] is True
    assert "dev-only" in result["SECRET_KEY"]
    assert result["SECRET_KEY"] not in result["API_KEY_PEPPERS"]


def test_pepper_equal_to_secret_key_is_refused():
    result = production(API_KEY_PEPPER=PRODUCTION["SECRET_KEY"])
    assert result["error"] == "ImproperlyConfigured"
    assert "API_KEY_PEPPER" in result["message"]


def test_several_peppers_are_read_newest_first():
    result = production(API_KEY_PEPPER=" new-pepper-2026 , old-pepper-2025 ")
    assert result["API_KEY_PEPPERS"] == ["new-pepper-2026", "old-pepper-2025"]


@pytest.fixture
def peppers():
    """Switch the configured peppers (newest first) for the rest of the test."""
    overrides = []

    def use(*values):
        override = override_settings(API_KEY_PEPPERS=list(values))
        override.enable()
        overrides.append(override)
        keyformat.reset_pepper_cache()

    yield use
    for override in reversed(overrides):
        override.disable()
    keyformat.reset_pepper_cache()


def test_adding_a_new_pepper_keeps_old_keys_working_and_mints_new_keys_under_it(
    tenant, make_api, peppers
):
    peppers("pepper-2025-" + "a" * 32)
    old_key, old_secret = mint_admin_key(tenant, name="before rotation")

    peppers("pepper-2026-" + "b" * 32, "pepper-2025-" + "a" * 32)
    url = "/t/acme-corp/api/v1/admin/api-keys"
    assert make_api(old_secret).get(url).status_code == 200

    new_key, new_secret = mint_admin_key(tenant, name="after rotation")
    assert new_key.pepper_id == keyformat.current_pepper_id()
    assert new_key.pepper_id != old_key.pepper_id
    assert make_api(new_secret).get(url).status_code == 200


def test_dropping_an_old_pepper_retires_the_keys_it_made(tenant, make_api, peppers):
    peppers("pepper-2025-" + "a" * 32)
    _, old_secret = mint_admin_key(tenant, name="old")
    peppers("pepper-2026-" + "b" * 32)
    _, new_secret = mint_admin_key(tenant, name="new")

    url = "/t/acme-corp/api/v1/admin/api-keys"
    assert make_api(old_secret).get(url).status_code == 401
    assert make_api(new_secret).get(url).status_code == 200


def test_the_pepper_id_stored_with_a_key_does_not_reveal_the_pepper(tenant, peppers):
    pepper = "pepper-2026-" + "c" * 32
    peppers(pepper)
    key, _ = mint_admin_key(tenant)
    stored = ApiKey.objects.values_list("pepper_id", "digest").get(pk=key.pk)
    assert not any(pepper in value or value in pepper for value in stored)


# Production hardening


def test_manage_py_check_deploy_is_clean_under_production_settings():
    out = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        # A shared cache, as deployed (a local-memory one is a warning: see test_deploy_checks).
        env=clean_env(**PRODUCTION, CACHE_URL="redis://127.0.0.1:6379/0"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout


def test_the_silenced_csrf_deploy_check_is_covered_by_a_csrf_middleware_subclass():
    # check --deploy's security.W003 is silenced in settings; it is only safe while this holds.
    settings = production()
    assert "security.W003" in settings["SILENCED_SYSTEM_CHECKS"]
    classes = [import_string(m) for m in settings["MIDDLEWARE"]]
    csrf = [c for c in classes if isinstance(c, type) and issubclass(c, CsrfViewMiddleware)]
    assert len(csrf) == 1


def test_cookies_and_transport_are_secure_when_debug_is_off():
    settings = production()
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["CSRF_COOKIE_SECURE"] is True
    assert settings["SESSION_COOKIE_HTTPONLY"] is True
    assert settings["SECURE_SSL_REDIRECT"] is True
    assert settings["SECURE_HSTS_SECONDS"] >= 31536000
    assert settings["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True


def test_secure_transport_settings_can_be_relaxed_from_the_environment():
    settings = production(SECURE_SSL_REDIRECT="false", SECURE_HSTS_SECONDS="0")
    assert settings["SECURE_SSL_REDIRECT"] is False
    assert settings["SECURE_HSTS_SECONDS"] == 0


def test_debug_serves_plain_http_for_local_development():
    settings = load_settings(DEBUG="true")
    assert settings["SESSION_COOKIE_SECURE"] is False
    assert settings["SECURE_SSL_REDIRECT"] is False


# Parsing of the other variables


def test_database_defaults_to_a_sqlite_file_in_the_project_folder():
    db = production()["DATABASES"]["default"]
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert Path(db["NAME"]) == ROOT / "db.sqlite3"


def test_sqlite_writers_take_the_write_lock_at_begin_and_wait_for_each_other():
    options = production(SQLITE_TIMEOUT="7")["DATABASES"]["default"]["OPTIONS"]
    assert options["transaction_mode"] == "IMMEDIATE"
    assert options["timeout"] == 7
    assert "journal_mode=WAL" in options["init_command"]


def test_connection_health_checks_can_be_turned_off():
    db = production(CONN_HEALTH_CHECKS="false")["DATABASES"]["default"]
    assert db["CONN_HEALTH_CHECKS"] is False


def test_database_url_selects_postgresql_with_persistent_checked_connections():
    url = "postgres://tessera:s3cret@db.internal:6432/tessera_prod"
    db = production(DATABASE_URL=url, CONN_MAX_AGE="120")["DATABASES"]["default"]
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["HOST"], db["PORT"]) == (
        "tessera_prod",
        "tessera",
        "db.internal",
        6432,
    )
    assert db["CONN_MAX_AGE"] == 120
    assert db["CONN_HEALTH_CHECKS"] is True


def test_cache_defaults_to_local_memory():
    cache = production()["CACHES"]["default"]
    assert cache["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"


def test_cache_url_with_redis_uses_djangos_redis_cache():
    cache = production(CACHE_URL="redis://127.0.0.1:6379/3")["CACHES"]["default"]
    assert cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert cache["LOCATION"] == "redis://127.0.0.1:6379/3"


def test_trusted_proxies_are_a_list_and_make_the_forwarded_proto_header_trusted():
    settings = production(TRUSTED_PROXIES="10.0.0.0/8,192.168.1.7")
    assert settings["TRUSTED_PROXIES"] == ["10.0.0.0/8", "192.168.1.7"]
    assert settings["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_without_trusted_proxies_no_forwarded_header_is_believed():
    settings = production()
    assert settings["TRUSTED_PROXIES"] == []
    assert settings["SECURE_PROXY_SSL_HEADER"] is None


def test_default_rate_limit_is_600_per_minute_and_configurable():
    assert production()["DEFAULT_RATE_LIMIT_PER_MINUTE"] == 600
    assert production(DEFAULT_RATE_LIMIT_PER_MINUTE="90")["DEFAULT_RATE_LIMIT_PER_MINUTE"] == 90


def test_hosts_and_trusted_origins_are_comma_separated_lists():
    settings = production(
        ALLOWED_HOSTS="tessera.example.com,.internal",
        CSRF_TRUSTED_ORIGINS="https://tessera.example.com",
    )
    assert settings["ALLOWED_HOSTS"] == ["tessera.example.com", ".internal"]
    assert settings["CSRF_TRUSTED_ORIGINS"] == ["https://tessera.example.com"]


def test_usage_flush_interval_and_log_level_come_from_the_environment():
    settings = production(USAGE_FLUSH_SECONDS="5", LOG_LEVEL="WARNING")
    assert settings["USAGE_FLUSH_SECONDS"] == 5
    assert settings["LOGGING"]["root"]["level"] == "WARNING"

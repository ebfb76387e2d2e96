"""Tessera settings: one flat file, read from the environment (and `.env` when present).

Secrets have no default when DEBUG is off: the process refuses to start without them.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.FileAwareEnv()
environ.FileAwareEnv.read_env(BASE_DIR / ".env") if (BASE_DIR / ".env").exists() else None

DEBUG = env.bool("DEBUG", default=False)


def _required_secret(name: str, dev_default: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(
        f"{name} must be set when DEBUG is off (for local development, set DEBUG=true)"
    )


SECRET_KEY = _required_secret("SECRET_KEY", "dev-only-insecure-secret-key-" + "x" * 40)

# Server-side pepper for API key digests. Several may be listed, newest first: new keys use the
# first, existing keys keep verifying with the one that made them.
API_KEY_PEPPERS = [
    p.strip()
    for p in _required_secret("API_KEY_PEPPER", "dev-only-insecure-pepper-" + "y" * 40).split(",")
    if p.strip()
]
if SECRET_KEY in API_KEY_PEPPERS:
    raise ImproperlyConfigured("API_KEY_PEPPER must differ from SECRET_KEY")

# Webhooks (SPEC §11): signing secrets are stored encrypted with this Fernet key.
WEBHOOK_SECRET_ENCRYPTION_KEY = _required_secret(
    "WEBHOOK_SECRET_ENCRYPTION_KEY", "ZGV2LW9ubHktaW5zZWN1cmUtd2ViaG9vay1rZXkhISE="
)
# Lifts the public-address check and allows http targets (intranets, tests).
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=False)
# runworker's delivery job: deliveries claimed per batch, and each one's lease in seconds
# (0: the attempt's own deadline plus a margin; tests of a killed worker shorten it).
WEBHOOK_DELIVERY_BATCH = env.int("WEBHOOK_DELIVERY_BATCH", default=20)
WEBHOOK_LEASE_PER_DELIVERY = env.float("WEBHOOK_LEASE_PER_DELIVERY", default=0)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
DEFAULT_RATE_LIMIT_PER_MINUTE = env.int("DEFAULT_RATE_LIMIT_PER_MINUTE", default=600)

# OAuth 2.0 (SPEC §10): the issuer is PUBLIC_URL + /t/<tenant>/api/v1, never the Host header.
PUBLIC_URL = env.str("PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")
OAUTH_AUDIENCE = env.str("OAUTH_AUDIENCE", default="")  # empty: the issuer
OAUTH_ACCESS_TOKEN_SECONDS = env.int("OAUTH_ACCESS_TOKEN_SECONDS", default=3600)
OAUTH_REFRESH_TOKEN_SECONDS = env.int("OAUTH_REFRESH_TOKEN_SECONDS", default=7 * 24 * 3600)
# A Fernet key encrypting the private signing keys at rest.
OAUTH_KEY_ENCRYPTION_KEY = _required_secret(
    "OAUTH_KEY_ENCRYPTION_KEY", "ZGV2LW9ubHktaW5zZWN1cmUtb2F1dGgta2V5LTMyYiE="
)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "portal",
    "access",
    "tenants",
    "audit",
    "agents",
    "apikeys",
    "webhooks",
    "oauth",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.middleware.ApiMountMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "portal.middleware.ApiAwareCsrfMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.portal",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A transaction that reads and then writes cannot take the write lock once another writer
    # holds it: SQLite fails it at once with "database is locked", busy timeout or not. IMMEDIATE
    # takes the write lock at BEGIN, so concurrent writers queue (up to `timeout` seconds) and the
    # loser of a race then sees the winner's row: a 409, as on PostgreSQL. WAL lets readers run
    # beside the one writer.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": env.int("SQLITE_TIMEOUT", default=20),
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Server-side binding lets psycopg 3 prepare a statement once a connection has run it
    # PG_PREPARE_THRESHOLD times: the key lookup's join is then planned once per connection, not
    # once per request. 0 switches it off (client-side binding, Django's default), which a
    # pooler in transaction mode (PgBouncer before 1.21) needs.
    prepare_threshold = env.int("PG_PREPARE_THRESHOLD", default=5)
    if prepare_threshold > 0:
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            {"server_side_binding": True, "prepare_threshold": prepare_threshold}
        )
# Persistent connections on every engine: opening one costs milliseconds (SQLite's PRAGMAs and
# the WAL checkpoint on close, PostgreSQL's handshake), which would dwarf a key lookup.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
# A health check costs a round trip (SELECT 1) at the start of every request that uses the
# database; CONN_HEALTH_CHECKS=false saves it, and then a worker's first request after a
# database restart fails before its connection is replaced.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://tessera")}
# django-environ maps redis:// to Django's built-in RedisCache (django-redis is not installed).
if CACHES["default"]["BACKEND"].endswith("LocMemCache"):
    # Rate-limit counters live here (one per key and minute): culling at locmem's default of
    # 300 entries would silently reset them.
    CACHES["default"].setdefault("OPTIONS", {}).setdefault("MAX_ENTRIES", 100_000)
# With Redis as the cache, each process keeps up to KEY_ROW_CACHE_SIZE key rows, used while their
# tenant's credential epoch holds and for at most KEY_ROW_MAX_AGE seconds (access.shared).
KEY_ROW_CACHE_SIZE = env.int("KEY_ROW_CACHE_SIZE", default=10_000)
KEY_ROW_MAX_AGE = env.float("KEY_ROW_MAX_AGE", default=30.0)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "tenants.User"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "tenant-picker"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Request bodies: 1 MiB at most (SPEC §4 answers 413 past that).
MAX_BODY_BYTES = 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES

# Content Security Policy: Django's own, nonces for inline scripts, nothing inline otherwise.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXIES else None
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# `check --deploy` recognises CSRF protection only by CsrfViewMiddleware's dotted path; ours is a
# subclass of it (tests/portal/test_settings.py holds it to that). HSTS preload is an operator's
# commitment, so it stays opt-in (SECURE_HSTS_PRELOAD=true).
SILENCED_SYSTEM_CHECKS = ["security.W003", "security.W021"]

# Usage counters are buffered, never written per request: handed to Redis when CACHE_URL (or
# USAGE_REDIS_URL) points at one, and written by the worker's usage job every interval; else
# kept in memory and written by the request that completes a batch or finds it an interval old.
USAGE_FLUSH_SECONDS = env.int("USAGE_FLUSH_SECONDS", default=60)
USAGE_FLUSH_BATCH = env.int("USAGE_FLUSH_BATCH", default=100)
_cache_url = env.str("CACHE_URL", default="")
USAGE_REDIS_URL = env.str(
    "USAGE_REDIS_URL",
    default=_cache_url if _cache_url.startswith(("redis://", "rediss://", "unix://")) else "",
)
USAGE_REDIS_PREFIX = env.str("USAGE_REDIS_PREFIX", default="tessera:usage")

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # A database outage is logged once by portal.outage, not once per 503 it answers.
    "filters": {"outage": {"()": "portal.outage.OutageLogFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # runserver prints its own start-up and request lines; don't log them a second time.
    "loggers": {
        "django.request": {"filters": ["outage"]},
        "django.server": {"level": "WARNING"},
        "django.utils.autoreload": {"level": "WARNING"},
    },
}

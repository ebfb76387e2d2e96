"""Tessera settings: one flat file, read from the environment (and `.env` when present).

Secrets have no default when DEBUG is off: the process refuses to start without them.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from portal.logs import logging_config

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
# Each delivery attempt: seconds to connect, seconds in all (connect, status line, headers and
# body), and how much of the response body is read; deliveries to different endpoints run on up
# to WEBHOOK_DELIVERY_THREADS threads.
WEBHOOK_CONNECT_TIMEOUT = env.float("WEBHOOK_CONNECT_TIMEOUT", default=5.0)
WEBHOOK_ATTEMPT_DEADLINE = env.float("WEBHOOK_ATTEMPT_DEADLINE", default=15.0)
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=64 * 1024)
WEBHOOK_DELIVERY_THREADS = env.int("WEBHOOK_DELIVERY_THREADS", default=8)
# runworker's delivery job: deliveries claimed at once; and a delivery's lease runs this many
# seconds past its attempt's deadline (the time a killed worker's rows wait for another worker).
WEBHOOK_DELIVERY_BATCH = env.int("WEBHOOK_DELIVERY_BATCH", default=20)
WEBHOOK_LEASE_MARGIN = env.float("WEBHOOK_LEASE_MARGIN", default=15.0)

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
    "idempotency",
    "elevation",
    # Signing in (SPEC §14): django-allauth's account, two factors, OpenID Connect and sessions.
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.usersessions",
]

MIDDLEWARE = [
    "portal.logs.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.middleware.ApiMountMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "portal.middleware.ApiAwareCsrfMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tenants.middleware.HtmxConfirmAccessMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
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
AUTHENTICATION_BACKENDS = ["allauth.account.auth_backends.AuthenticationBackend"]
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

# --- Signing in: django-allauth (SPEC §14) --------------------------------------------------
# Email is the login; there are no usernames. Nobody signs up on their own: people join through
# an owner's invitation (tenants.invitations), which proves their address.
ACCOUNT_ADAPTER = "tenants.auth.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_SESSION_REMEMBER = True
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_LOGOUT_REDIRECT_URL = "login"
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Tessera] "
# Links in mails and the SSO callback use the scheme the portal is served with.
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PUBLIC_URL.startswith("https:") else "http"
# Confirm access: a password or second-factor check counts for 10 minutes.
ACCOUNT_REAUTHENTICATION_TIMEOUT = 10 * 60
# SPEC §7's login throttle is tenants.auth's own (10 failures per email in 15 minutes lock that
# email for 15 minutes); allauth's sliding per-key limit would unlock early, so it is off.
ACCOUNT_RATE_LIMITS = {"login_failed": False}
PASSWORD_RESET_TIMEOUT = 3 * 24 * 3600

# Single sign-on with OpenID Connect providers: OIDC_PROVIDERS is a JSON list of
# {"id", "name", "issuer", "clientId", "clientSecret"}; each becomes a "Sign in with <name>".
OIDC_PROVIDERS = env.json("OIDC_PROVIDERS", default=[])
_OIDC_KEYS = {"id", "name", "issuer", "clientId", "clientSecret"}
if not isinstance(OIDC_PROVIDERS, list) or any(
    not isinstance(p, dict) or set(p) != _OIDC_KEYS for p in OIDC_PROVIDERS
):
    raise ImproperlyConfigured(
        "OIDC_PROVIDERS must be a JSON list of objects with exactly the keys "
        + ", ".join(sorted(_OIDC_KEYS))
    )
SOCIALACCOUNT_ADAPTER = "tenants.auth.SocialAccountAdapter"
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        "OAUTH_PKCE_ENABLED": True,
        "APPS": [
            {
                "provider_id": p["id"],
                "name": p["name"],
                "client_id": p["clientId"],
                "secret": p["clientSecret"],
                "settings": {"server_url": p["issuer"]},
            }
            for p in OIDC_PROVIDERS
        ],
    }
}
# A first SSO sign-in links to the account of the same email only when the provider asserts
# email_verified (tenants.auth.SocialAccountAdapter refuses it otherwise).
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_STORE_TOKENS = False

# Sessions page: device, IP and sign-in time. Tracking each request's activity would cost every
# signed-in page five queries and a write, so "last seen" is not kept.
USERSESSIONS_TRACK_ACTIVITY = False

# Two factors: TOTP with 10 recovery codes, and WebAuthn passkeys (which also sign in alone).
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_TOTP_ISSUER = "Tessera"
MFA_RECOVERY_CODE_COUNT = 10
# Recovery codes are shown once, when they are made (new ones can be generated).
MFA_RECOVERY_CODES_SHOW_ONCE = True
# WebAuthn needs a secure origin; http://localhost is one to browsers, so the demo may use it.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = env.bool("WEBAUTHN_ALLOW_INSECURE_ORIGIN", default=DEBUG)

# Email: consolemail:// prints mails (scripts/run's demo), smtp:// or smtp+tls:// sends them.
# Django 6.1 configures mail as MAILERS (the EMAIL_* settings are deprecated): django-environ
# parses the URL, and its EMAIL_* values become the default mailer's OPTIONS.
_email = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
_EMAIL_OPTIONS = {
    "EMAIL_HOST": "host",
    "EMAIL_PORT": "port",
    "EMAIL_HOST_USER": "username",
    "EMAIL_HOST_PASSWORD": "password",
    "EMAIL_USE_TLS": "use_tls",
    "EMAIL_USE_SSL": "use_ssl",
    "EMAIL_TIMEOUT": "timeout",
    "EMAIL_FILE_PATH": "file_path",
}
_smtp = _email["EMAIL_BACKEND"].endswith("smtp.EmailBackend")
MAILERS = {
    "default": {
        "BACKEND": _email["EMAIL_BACKEND"],
        "OPTIONS": {
            option: _email[name]
            for name, option in _EMAIL_OPTIONS.items()
            if _email.get(name) not in (None, "") and (_smtp or name == "EMAIL_FILE_PATH")
        },
    }
}
if _smtp:
    MAILERS["default"]["OPTIONS"].setdefault("timeout", 10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Tessera <tessera@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

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

_SSO_ORIGINS = sorted({"/".join(p["issuer"].split("/", 3)[:3]) for p in OIDC_PROVIDERS})

# Content Security Policy: Django's own, nonces for inline scripts, nothing inline otherwise.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    # "Sign in with <provider>" posts here and is redirected to the provider: allowed too.
    "form-action": [CSP.SELF, *_SSO_ORIGINS],
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
# Probes and scrapers talk to each app server directly, often over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
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
# LOG_FORMAT=json: every log line one JSON object, and one line per request (portal/logs.py).
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
LOGGING = logging_config(LOG_FORMAT, LOG_LEVEL)

# GET /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it is a 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

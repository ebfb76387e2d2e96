"""Test settings: production settings with test secrets, so the suite runs as deployed."""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-" + "s" * 20)
os.environ.setdefault("OAUTH_KEY_ENCRYPTION_KEY", "dGVzdC1vbmx5LW9hdXRoLWVuY3J5cHRpb24ta2V5ISE=")
os.environ.setdefault("API_KEY_PEPPER", "test-pepper-not-for-production-" + "p" * 20)
os.environ.setdefault(
    "WEBHOOK_SECRET_ENCRYPTION_KEY", "dGVzdC13ZWJob29rLWVuY3J5cHRpb24ta2V5LTMyYnk="
)
# Always as deployed, even from a shell that exported DEBUG=true to talk to the demo.
os.environ["DEBUG"] = "false"
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("CSRF_COOKIE_SECURE", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

from portal.settings import *  # noqa: E402,F403

# Static files from the finders, so tests need no collectstatic.
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

PASSWORD_HASHERS = [
    "tests.hashers.CheapArgon2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]

# Every JSON response under /api/v1/ is checked against the OpenAPI document (tests/openapi_check).
MIDDLEWARE = ["tests.openapi_check.OpenApiResponseCheck", *MIDDLEWARE]  # noqa: F405

"""Benchmark settings: the test settings (production settings with throwaway secrets), plus a
URLconf with a bare JSON view.

The bare view lives only here (never in production URLs); it goes through the very same
middleware stack as the API, so the ratios isolate what authentication adds.
"""

import os

# Rejected keys are logged at INFO; the benchmark measures the code path, not a terminal.
os.environ.setdefault("LOG_LEVEL", "WARNING")

from tests.settings import *  # noqa: E402,F403

ROOT_URLCONF = "benchmarks.urls"
# Django logs every 4xx at WARNING (django.request): V3–V5 would print a line per request.
LOGGING["loggers"]["django.request"] = {"level": "ERROR"}  # noqa: F405

# The djangorestframework-api-key peer (the `[bench]` extra, installed by scripts/bench): its
# apps exist only in these settings, never in the product's.
try:
    import rest_framework_api_key  # noqa: F401
except ImportError:
    BENCH_DRF_PEER = False
else:
    BENCH_DRF_PEER = True
    INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework", "rest_framework_api_key"]  # noqa: F405
# The suite's OpenAPI response check is for tests, not part of the measured stack.
MIDDLEWARE = [m for m in MIDDLEWARE if m != "tests.openapi_check.OpenApiResponseCheck"]  # noqa: F405

"""`manage.py check --deploy` warns when the cache is per process with DEBUG off: rate limits and
login throttles would then be counted per worker."""

import subprocess
import sys

import pytest
from django.test import override_settings

from portal.checks import check_shared_cache
from tests.portal.test_settings import PRODUCTION, ROOT, clean_env

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/0",
    }
}


def test_a_local_memory_cache_with_debug_off_is_a_deploy_warning():
    with override_settings(DEBUG=False, CACHES=LOCMEM):
        warnings = check_shared_cache()
    assert [w.id for w in warnings] == ["portal.W001"]


@pytest.mark.parametrize(("debug", "caches"), [(True, LOCMEM), (False, REDIS)])
def test_a_shared_cache_or_debug_mode_is_no_warning(debug, caches):
    with override_settings(DEBUG=debug, CACHES=caches):
        assert check_shared_cache() == []


def test_manage_py_check_deploy_reports_the_per_process_cache():
    out = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=clean_env(**PRODUCTION),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "portal.W001" in out.stdout + out.stderr
    assert "per worker process" in out.stdout + out.stderr

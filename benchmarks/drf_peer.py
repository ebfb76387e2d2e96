"""The djangorestframework-api-key peer: a DRF view guarded by `HasAPIKey`, bench-only.

Imported only when `benchmarks.settings` found the `[bench]` extra installed (DRF is never an
installed app or a dependency of the product). The view answers what `bench/ping` answers, is
mounted beside it under the same middleware, and renders plain JSON (no browsable API).
"""

import hashlib

from django.db import transaction
from rest_framework.decorators import (
    api_view,
    authentication_classes,
    permission_classes,
    renderer_classes,
)
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework_api_key.models import APIKey
from rest_framework_api_key.permissions import HasAPIKey


@api_view(["GET"])
@authentication_classes([])
@permission_classes([HasAPIKey])
@renderer_classes([JSONRenderer])
def ping(request, tenant):
    return Response({"ok": True})


def seed(count: int, batch: int = 5000) -> str:
    """`count` keys in the peer's table (filler rows bulk-inserted with a SHA-512 digest as the
    library stores it) plus one real key made by the library; returns that key's plaintext."""
    made = APIKey.objects.count()
    while made < count - 1:
        rows = []
        for i in range(made, min(count - 1, made + batch)):
            prefix = f"f{i:07d}"
            hashed = "sha512$$" + hashlib.sha512(prefix.encode()).hexdigest()
            rows.append(APIKey(id=f"{prefix}.{hashed}", prefix=prefix, hashed_key=hashed, name="f"))
        with transaction.atomic():
            APIKey.objects.bulk_create(rows)
        made += len(rows)
    _, key = APIKey.objects.create_key(name="bench")
    return key

"""`@idempotent`: the one place a creating API view honours `Idempotency-Key` (SPEC §15).

Placed under `tenant_view`, so the caller is authenticated and `request.actor` is known (keys
are scoped to the calling credential). Only API `POST`s that carry the header are concerned;
everything else passes straight through.
"""

import json
import re
from functools import wraps

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse

from idempotency import services
from portal.errors import BadRequest, PayloadTooLarge

HEADER = "Idempotency-Key"
_VALID = re.compile(r"^[\x20-\x7e]{1,255}$")


def credential_of(request) -> str:
    key = getattr(request.actor, "key", None)
    if key is not None:
        return f"key:{key.pk}"
    return f"user:{request.user.pk}"


def idempotent(view):
    @wraps(view)
    def wrapper(request, tenant, *args, **kwargs):
        raw = request.headers.get(HEADER)
        if raw is None or request.method != "POST" or not request.is_api:
            return view(request, tenant, *args, **kwargs)
        if not _VALID.match(raw):
            raise BadRequest(f"{HEADER} must be 1 to 255 printable ASCII characters.")
        try:
            body = request.body
        except RequestDataTooBig:
            raise PayloadTooLarge() from None
        digest = services.request_hash(request.method, request.path, body)
        claimed = services.claim(tenant, credential_of(request), raw, digest)
        if isinstance(claimed, services.Replay):
            return _replay(claimed)
        try:
            response = view(request, tenant, *args, **kwargs)
        except BaseException:
            services.release(claimed)
            raise
        if response.status_code >= 500 or response.get("Content-Type") != "application/json":
            services.release(claimed)
        else:
            services.complete(claimed, response.status_code, json.loads(response.content))
        return response

    return wrapper


def _replay(replay: services.Replay):
    response = JsonResponse(replay.body, status=replay.status, safe=False)
    response["Idempotent-Replayed"] = "true"
    response["Cache-Control"] = "no-store"
    return response

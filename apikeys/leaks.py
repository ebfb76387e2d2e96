"""Leaked-key reports (SPEC §12): `POST /api/v1/credentials/revoke`, the shape of GitHub's.

Anyone may report strings they found in public: no authentication, no tenant, no CSRF (there is
no session to ride on). The answer is always 202 `{}` for a well-formed report, so it tells
nothing about which strings were keys. Each string is parsed first (`keyformat.parse`: no query
for a malformed one); each real, live key is revoked at once through the key services, audited
as `api_key.leaked` with `metadata.source = "public report"`. Reports are limited to
`LEAK_REPORTS_PER_HOUR` per client IP.
"""

import hashlib

from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from access import keyformat, ratelimit
from access.credentials import client_ip
from access.keys import lookup_key
from apikeys import services
from portal.errors import Conflict, Invalid, MethodNotAllowed, RateLimited
from portal.respond import respond
from portal.validation import read_body

LEAK_REPORTS_PER_HOUR = 60
MAX_CREDENTIALS = 1000
SOURCE = "public report"


def parse_report(data) -> list[str]:
    """The reported strings, or Invalid when the body is not `{"credentials": [str, 1..1000]}`."""
    unknown = [str(k)[:60] for k in data if k != "credentials"]
    if unknown:
        raise Invalid({k: ["Unknown field."] for k in unknown})
    creds = data.get("credentials")
    if (
        not isinstance(creds, list)
        or not 1 <= len(creds) <= MAX_CREDENTIALS
        or not all(isinstance(c, str) for c in creds)
    ):
        raise Invalid({"credentials": [f"Must be a list of 1 to {MAX_CREDENTIALS} strings."]})
    return creds


def revoke_reported(credentials) -> int:
    """Revoke every real, live key among `credentials`; return how many were revoked."""
    revoked = 0
    seen = set()
    for raw in credentials:
        parsed = keyformat.parse(raw)  # no query for anything that is not a key
        if parsed is None or parsed.full in seen:
            continue
        seen.add(parsed.full)
        _, key = lookup_key(parsed.full)
        if key is None:
            continue
        try:
            services.revoke_leaked_key(key, source=SOURCE)
        except Conflict:
            continue  # expired, or revoked meanwhile: nothing left to stop
        revoked += 1
    return revoked


def _client_bucket(request) -> str:
    # A hash keeps the cache key short and free of ':' and spaces whatever the IP looks like.
    ip = client_ip(request) or "unknown"
    return "leak:" + hashlib.sha256(ip.encode()).hexdigest()[:16]


@csrf_exempt
def credentials_revoke(request):
    if request.method != "POST":
        raise MethodNotAllowed(headers={"Allow": "POST"})
    state = ratelimit.count(_client_bucket(request), LEAK_REPORTS_PER_HOUR, 3600)
    if state.exceeded:
        raise RateLimited(
            "Too many reports from this address; try again later.",
            headers={**state.headers(), "Retry-After": str(state.reset)},
        )
    revoke_reported(parse_report(read_body(request)))
    return respond(request, json={}, status=202, headers=state.headers())


root_patterns = [
    path("api/v1/credentials/revoke", credentials_revoke, name="credentials-revoke"),
]

"""Figures beside the hot path: list pages at scale and the audit export of a million events.

- `list_queries()`: queries of the keys list page and API with 1 key in a tenant, then with
  `LIST_KEYS` (10,000): the same count at both sizes (no query per row);
- `seed_events(n)` then `export_in_child()`: the JSON Lines audit export of `n` events, streamed
  through the test client in a fresh process, which reports its time, its peak RSS
  (`ru_maxrss`) and its RSS before the export (the interpreter and Django alone);
- `offline_token_check(keys)`: what a resource server pays to check a Tessera access token
  offline with PyJWT against the JWKS (fetched once, as `PyJWKClient` caches it): µs per check,
  beside V6 (asking Tessera per request).
"""

import json
import os
import resource
import subprocess
import sys
import time
import uuid

from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access.actor import Actor
from apikeys import services
from audit import chain
from audit.models import AuditEvent
from benchmarks import seed
from tenants.models import Membership, Tenant, User

LIST_TENANT = "list-org"
AUDIT_TENANT = "audit-org"
LIST_KEYS = 10_000


def list_queries(large: int = LIST_KEYS) -> dict:
    tenant = Tenant.objects.create(slug=LIST_TENANT, name="List")
    _, key = services.mint_key(tenant, Actor.system("benchmark"), name="lister")
    user = User.objects.create_user("lister@example.com", "x")
    Membership.objects.create(tenant=tenant, user=user, role=Membership.Role.OWNER)
    page = Client()
    page.force_login(user)
    api = Client(headers={"Authorization": f"Bearer {key}"})
    targets = {
        "page": (page, f"/t/{LIST_TENANT}/portal/settings/api-keys"),
        "api": (api, f"/t/{LIST_TENANT}/api/v1/admin/api-keys"),
    }
    out = {}
    for size in (1, large):
        seed.add_filler(size - tenant.api_keys.count(), tenant_slug=LIST_TENANT)
        for name, (client, path) in targets.items():
            client.get(path)
            with CaptureQueriesContext(connection) as ctx:
                status = client.get(path).status_code
            if status != 200:
                raise RuntimeError(f"keys list {name}: {status}")
            out.setdefault(name, {})[str(size)] = len(ctx.captured_queries)
    return out


def seed_events(count: int, batch: int = 10_000) -> str:
    """`count` audit events in their own tenant (raw `executemany`, values prepared by the model's
    fields); returns an admin key of that tenant, for the export."""
    tenant = Tenant.objects.create(slug=AUDIT_TENANT, name="Audit")
    _, key = services.mint_key(tenant, Actor.system("benchmark"), name="exporter")
    fields, sql = seed.insert_statement(AuditEvent)
    start = timezone.now()
    made = AuditEvent.objects.filter(tenant=tenant).count()
    # Chained as record() would (audit.chain), after the exporter key's own event.
    seq, prev_hash = tenant.audit_events.order_by("-seq").values_list("seq", "hash").first()
    with connection.cursor() as cursor:
        while made < count:
            rows = []
            for i in range(made, min(count, made + batch)):
                event = AuditEvent(
                    id=uuid.uuid4(),
                    tenant=tenant,
                    occurred_at=start - timezone.timedelta(seconds=i),
                    action="api_key.rotated",
                    actor_type="user",
                    actor_id="u1",
                    actor_name="Ada Lovelace",
                    target_type="api_key",
                    target_id=str(i),
                    target_name=f"key {i}",
                    ip="10.0.0.1",
                    user_agent="bench/1.0",
                    metadata={"reason": "scheduled", "n": i},
                    seq=seq + 1,
                    prev_hash=prev_hash,
                )
                event.hash = prev_hash = chain.digest(prev_hash, event, tenant.slug)
                seq += 1
                rows.append(
                    [f.get_db_prep_save(getattr(event, f.attname), connection) for f in fields]
                )
            with transaction.atomic():
                cursor.executemany(sql, rows)
            made += len(rows)
    return key


def export_in_child(db_url: str, key: str) -> dict:
    """Run `export(key)` in a fresh interpreter (so its peak RSS is the export's alone)."""
    env = {**os.environ, "DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "benchmarks.settings"}
    code = (
        "import django, json, sys; django.setup()\n"
        "from benchmarks.peers import export\n"
        "print(json.dumps(export(sys.argv[1])))\n"
    )
    out = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", code, key],
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def export(key: str) -> dict:
    client = Client(headers={"Authorization": f"Bearer {key}"})
    before = _peak_rss_mb()
    started = time.perf_counter()
    response = client.get(f"/t/{AUDIT_TENANT}/api/v1/admin/audit-logs/export?format=jsonl")
    size = lines = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
    return {
        "status": response.status_code,
        "events": lines,
        "megabytes": round(size / 2**20, 1),
        "seconds": round(time.perf_counter() - started, 1),
        "rss_before_mb": before,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _peak_rss_mb() -> float:
    """This process's peak RSS. On Linux, VmHWM of /proc/self/status: `ru_maxrss` would not do,
    since the kernel carries the high-water mark of the forked parent's memory across `exec`,
    so a child started by a large process reports the parent's size before it does anything."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)  # kB
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def offline_token_check(keys, checks: int = 5000) -> dict:
    """Best of 5 rounds of `checks` PyJWT verifications (signature, exp, iss, aud) of one token."""
    import base64

    import jwt

    base = f"/t/{seed.TENANT}/api/v1"
    basic = base64.b64encode(f"{keys.oauth_client}:{keys.oauth_secret}".encode()).decode()
    token = (
        Client()
        .post(
            f"{base}/oauth/token",
            "grant_type=client_credentials",
            content_type="application/x-www-form-urlencoded",
            headers={"Authorization": f"Basic {basic}"},
        )
        .json()["access_token"]
    )
    jwks = jwt.PyJWKSet.from_dict(Client().get(f"{base}/.well-known/jwks.json").json())
    key = next(k for k in jwks.keys if k.key_id == jwt.get_unverified_header(token)["kid"])
    issuer = jwt.decode(token, options={"verify_signature": False})["iss"]
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(checks):
            jwt.decode(token, key.key, algorithms=["RS256"], audience=issuer, issuer=issuer)
        best = min(best, (time.perf_counter() - started) / checks)
    return {"us_per_check": round(best * 1e6, 1), "checks": checks}

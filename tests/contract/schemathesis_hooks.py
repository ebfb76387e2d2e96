"""Schemathesis hooks for tests/contract/test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS
in the `st` process): each case carries one credential, chosen as the document says, that stays
alive for the whole run.

A fuzzer holding a full-admin key sooner or later rotates, revokes or deletes that very key (it
lists the tenant's keys and acts on them), narrows its allowlist or its rate limit, or, with an
agent key, deactivates its own agent; every request after that would be a 401 and test nothing.
So the credential is minted here, straight into the served database, and minted again whenever
the server stops accepting it: schemathesis then replays the refused request once with the new
one. `TESSERA_ST_CREDENTIAL` says which: `admin` (a full-admin key) or `agent` (a new agent and
its key, also its OAuth client credentials).
"""

import base64
import os
import threading
import uuid

import schemathesis

_setup = threading.Lock()
_ready = False


def _django():
    global _ready
    with _setup:
        if not _ready:
            import django

            # By hand against `scripts/run`, the demo's settings; the test passes its own.
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
            django.setup()
            _ready = True


def mint() -> dict:
    """A fresh credential in the served database (DATABASE_URL, tenant acme-corp)."""
    _django()
    from access.actor import Actor
    from agents.models import Agent
    from apikeys import services
    from tenants.models import Tenant

    tenant = Tenant.objects.get(slug="acme-corp")
    actor = Actor.system("schemathesis")
    if os.environ.get("TESSERA_ST_CREDENTIAL", "admin") == "agent":
        agent = Agent.objects.create(
            tenant=tenant, name=f"schemathesis-{uuid.uuid4().hex[:8]}", permissions=["read:x"]
        )
        _, secret = services.mint_key(
            tenant, actor, name="schemathesis", agent=agent, rate_limit_per_minute=1_000_000
        )
        return {"key": secret, "client_id": str(agent.pk)}
    _, secret = services.mint_key(
        tenant, actor, name="schemathesis", rate_limit_per_minute=1_000_000
    )
    return {"key": secret, "client_id": None}


def _schemes(operation) -> set[str]:
    """The security schemes the operation accepts (alternatives), from the document."""
    raw = operation.definition.raw
    requirements = raw.get("security", operation.schema.raw_schema.get("security", []))
    return {name for requirement in requirements for name in requirement}


# 401: the key was revoked, rotated or deleted; 403: its allowlist or its agent changed;
# 429: its rate limit was lowered. A status that outlives a fresh key is the operation's own.
@schemathesis.auth(retry_on=[401, 403, 429])
class LiveCredential:
    def get(self, case, context):
        return mint()

    def set(self, case, data, context):
        schemes = _schemes(case.operation)
        if "bearer" in schemes:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data['key']}"}
        elif "basicClient" in schemes and data["client_id"]:
            pair = base64.b64encode(f"{data['client_id']}:{data['key']}".encode()).decode()
            case.headers = {**(case.headers or {}), "Authorization": f"Basic {pair}"}

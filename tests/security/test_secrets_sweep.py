"""Every way a secret is minted (admin and agent keys through the API, the portal and HTMX,
agent creation, rotation, /agents/me/rotate, a new member's invitation link) leaves it
nowhere but the one response: not in the database, the logs, the session, a later page or
the audit export. And the login's `next` never leads off the site."""

import json
import logging
import re

import pytest
from django.core import mail
from django.db import connection

from tests.conftest import HTMX, ApiClient

P = "/t/acme-corp/portal"
A = "/t/acme-corp/api/v1/admin"


def dump_db():
    out = []
    with connection.cursor() as c:
        for t in connection.introspection.table_names():
            c.execute(f'SELECT * FROM "{t}"')
            out.append(repr(c.fetchall()))
    return "\n".join(out)


SECRET_RE = re.compile(r"(lmk_|sk_agent_live_)[A-Za-z0-9_-]{30,}")


def test_no_minted_secret_is_left_anywhere_after_the_response(owner_client, api, tenant, caplog):
    caplog.set_level(logging.DEBUG)
    secrets = []
    r = api.post(A + "/agents", {"name": "bot1"})
    assert r.status_code == 201
    secrets.append(r.json()["apiKey"])
    aid = r.json()["id"]
    r = api.post(A + f"/agents/{aid}/keys", {"name": "k2"})
    assert r.status_code == 201
    secrets.append(r.json()["apiKey"])
    r = api.post(A + f"/agents/{aid}/rotate-key", {"gracePeriod": 60})
    assert r.status_code == 201, r.content
    secrets.append(r.json()["apiKey"])
    r = ApiClient(secrets[-1]).post("/t/acme-corp/api/v1/agents/me/rotate", {"gracePeriod": 60})
    assert r.status_code == 201
    secrets.append(r.json()["apiKey"])
    for h in ({}, HTMX):
        r = owner_client.post(P + "/agents", {"name": f"pbot{len(h)}"}, headers=h)
        assert r.status_code == 201, r.status_code
        secrets += [m.group(0) for m in SECRET_RE.finditer(r.content.decode())]
        assert r["Cache-Control"] == "no-store"
    from agents.models import Agent

    ag = Agent.objects.get(name="pbot0")
    for h in ({}, HTMX):
        r = owner_client.post(
            P + f"/agents/{ag.pk}/rotate-key",
            {"gracePeriod": "3600", "confirm": ag.name},
            headers=h,
        )
        assert r.status_code == 201, r.status_code
        secrets += [m.group(0) for m in SECRET_RE.finditer(r.content.decode())]
        assert r["Cache-Control"] == "no-store"
        r = owner_client.post(P + f"/agents/{ag.pk}/keys", {"name": "x"}, headers=h)
        assert r.status_code == 201, r.status_code
        secrets += [m.group(0) for m in SECRET_RE.finditer(r.content.decode())]
        assert r["Cache-Control"] == "no-store"
        k = (
            ag.keys.filter(status="active").first()
            if hasattr(ag, "keys")
            else tenant.api_keys.filter(agent=ag, status="active").first()
        )
        r = owner_client.post(P + f"/agents/{ag.pk}/keys/{k.pk}/rotate", {}, headers=h)
        assert r.status_code == 201, r.status_code
        secrets += [m.group(0) for m in SECRET_RE.finditer(r.content.decode())]
    r = owner_client.post(P + "/settings/members", {"email": "new@example.com", "role": "viewer"})
    assert r.status_code == 303
    # An invitation's link token is mailed, and nowhere else.
    pw = re.search(r"/invitations/(\S+)", mail.outbox[-1].body).group(1)
    assert len(secrets) >= 12, len(secrets)
    db = dump_db()
    logs = caplog.text
    sess = json.dumps(dict(owner_client.session))
    for s in secrets + [pw]:
        assert s not in db, s
        assert s not in logs
        assert s not in sess
    # later pages
    for path in [
        "/",
        "/agents",
        f"/agents/{ag.pk}",
        "/settings/api-keys",
        "/audit-log",
        "/settings/members",
    ]:
        body = owner_client.get(P + path).content.decode()
        for s in secrets + [pw]:
            assert s not in body, path
    assert not SECRET_RE.search(
        owner_client.get(P + "/audit-log/export?format=jsonl").getvalue().decode()
    )


def test_refused_mint_forms_are_400(owner_client, tenant):
    r = owner_client.post(P + "/settings/api-keys", {"name": "", "apiKey": "lmk_x"})
    assert r.status_code == 400
    r = owner_client.post(P + "/agents", {"name": "zz", "expiresIn": "-5"})
    assert r.status_code == 400


@pytest.mark.parametrize(
    "nxt",
    [
        "//evil.com",
        "https://evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "https:/evil.com",
        "javascript:alert(1)",
        " //evil.com",
        "/%2F/evil.com",
        "http://testserver@evil.com",
    ],
)
def test_login_next_never_leaves_the_site(owner, client, nxt):
    from tests.conftest import PASSWORD

    r = client.post("/login?next=" + nxt, {"login": owner.email, "password": PASSWORD})
    assert (
        r.status_code == 302
        and r["Location"].startswith("/")
        and not r["Location"].startswith("//")
        and "evil" not in r["Location"].split("?")[0][:12]
    ), r["Location"]
    r = client.get("/login", {"next": nxt})
    assert (
        r.status_code == 302
        and r["Location"].startswith("/")
        and not r["Location"].startswith(("//", "/\\"))
    ), r["Location"]

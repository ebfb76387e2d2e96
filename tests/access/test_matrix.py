"""Every door checks the same rules (SPEC §3, §6, §6a, §6b, §10, §15): one table, door by rule.

A row is a door: a way a credential gets a caller in. A column is a rule: a state of the
credential, its agent or the request that some answer depends on. A cell is the SPEC's answer
for that door under that rule: `Http(status, error)` for a door that answers with a status,
`Code(code)` for `/keys/verify`, whose answer about the verified key is a `code` in a 200, or
`NA` where the rule cannot apply to the door (an admin key has no agent). A new door is a new
row in `TABLE` and a driver in `DOORS`; a new rule is a new column and a setup in `RULES`. A
missing cell fails `test_the_table_is_complete` and its own case.

Each case builds a fresh world (`tests/access/conftest.py`), lets the door prepare what it
needs while everything is allowed (an access or refresh token), applies the rule, knocks once.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import format_datetime

import pytest
from django.utils import timezone

from tests.access.conftest import (
    FENCE,
    World,
    agent_row,
    api_url,
    call,
    key_row,
    later,
    spend_budget,
)

pytestmark = pytest.mark.django_db

# --- the answers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Http:
    status: int
    error: str | None = None  # required for every refusal
    deprecated: bool = False  # Deprecation and Sunset headers of the deprecated key


@dataclass(frozen=True)
class Code:
    code: str
    deprecated: bool = False


NA = "N/A"  # the rule cannot apply to this door

OK = Http(200)
WARN = Http(200, deprecated=True)  # served, with the deprecated key's headers
U401 = Http(401, "unauthorized")
F403 = Http(403, "forbidden")
T429 = Http(429, "rate_limited")
Q429 = Http(429, "quota_exceeded")
S400 = Http(400, "invalid_scope")
G400 = Http(400, "invalid_grant")
# §10 "Errors": on /oauth/* a 401 keeps the RFC code; only a 403 or 429 uses §4's codes.
C401 = Http(401, "invalid_client")

RULE_NAMES = (
    "none",
    "revoked",
    "expired",
    "agent_inactive",
    "agent_expired",
    "outside_key_ips",
    "outside_agent_ips",
    "other_tenant",
    "rate_limited",
    "deprecated",
    "deleted",
    "key_quota",
    "agent_quota",
    "key_permissions",
)

# fmt: off
BASE = {
    #                      none  revo- exp-  agent agent key   agent other rate  depre dele-
    #                            ked   ired  inact exp.  IPs   IPs   tenan limit cated ted
    "admin_key":          (OK,   U401, U401, NA,   NA,   F403, NA,   U401, T429, WARN, U401),
    "agent_key":          (OK,   U401, U401, U401, U401, F403, F403, U401, T429, WARN, U401),
    "access_token":       (OK,   U401, U401, U401, U401, F403, F403, U401, T429, WARN, U401),
    "refresh":            (OK,   G400, G400, G400, G400, F403, F403, G400, T429, OK,   G400),
    "client_credentials": (OK,   C401, C401, C401, C401, F403, F403, C401, T429, WARN, C401),
    "introspection":      (OK,   C401, C401, C401, C401, F403, F403, C401, T429, WARN, C401),
    "token_revocation":   (OK,   C401, C401, C401, C401, F403, F403, C401, T429, WARN, C401),
    "verify": tuple(Code(c) for c in (
        "VALID", "REVOKED", "EXPIRED", "DISABLED", "DISABLED", "IP_NOT_ALLOWED", "IP_NOT_ALLOWED",
        "NOT_FOUND", "RATE_LIMITED",
    )) + (Code("VALID", deprecated=True), Code("NOT_FOUND")),
}
GUARDRAILS = {  # §15
    #                     key quota  agent quota  key permissions
    "admin_key":          (Q429,     NA,          NA),
    "agent_key":          (Q429,     Q429,        OK),
    "access_token":       (Q429,     Q429,        OK),
    "refresh":            (Q429,     Q429,        OK),
    "client_credentials": (Q429,     Q429,        S400),
    "introspection":      (Q429,     Q429,        OK),
    "token_revocation":   (Q429,     Q429,        OK),
    "verify": tuple(Code(c) for c in (
        "QUOTA_EXCEEDED", "QUOTA_EXCEEDED", "INSUFFICIENT_PERMISSIONS",
    )),
}
TABLE = {door: BASE[door] + GUARDRAILS[door] for door in BASE}
# fmt: on

# --- the doors -----------------------------------------------------------------------------


def _nothing(world: World) -> None:
    pass


def _a_token(world: World) -> None:
    world.state["token"] = world.token()


@dataclass(frozen=True)
class Door:
    subject: str  # whose key the rules act on: "admin" (the admin key) or "agent" (its key)
    knock: Callable[[World], object]
    prepare: Callable[[World], None] = _nothing
    presents_key: bool = True  # the key itself is in the request (so a refusal is audited)


DOORS = {
    "admin_key": Door(
        "admin",
        lambda w: call(
            "get", api_url(w.slug, "admin/api-keys"), credential=w.admin_secret, ip=w.ip
        ),
    ),
    "agent_key": Door("agent", lambda w: w.me(w.agent_secret)),
    "access_token": Door(
        "agent", lambda w: w.me(w.state["token"]["access_token"]), _a_token, presents_key=False
    ),
    "refresh": Door(
        "agent",
        lambda w: w.refresh(w.state["token"]["refresh_token"]),
        _a_token,
        presents_key=False,
    ),
    # Asks for a permission the agent holds, so a key narrowed away from it is refused (§15).
    "client_credentials": Door("agent", lambda w: w.ask_token(scope="read:reports")),
    "introspection": Door(
        "agent",
        lambda w: call(
            "post",
            api_url(w.slug, "oauth/introspect"),
            credential=w.agent_secret,
            body={"token": w.state["token"]["access_token"]},
            ip=w.ip,
        ),
        _a_token,
    ),
    # RFC 7009 revocation authenticates the client like the token endpoint does.
    "token_revocation": Door(
        "agent",
        lambda w: call(
            "post",
            api_url(w.slug, "oauth/revoke"),
            body={
                "token": w.state["token"]["access_token"],
                "client_id": w.agent_id,
                "client_secret": w.agent_secret,
            },
            ip=w.ip,
        ),
        _a_token,
    ),
    # The verified key is the agent's; the verifier (full admin of the tenant in the URL)
    # calls from INSIDE and names the agent's source address in `ip`.
    "verify": Door(
        "agent",
        lambda w: call(
            "post",
            api_url(w.slug, "keys/verify"),
            credential=w.verifiers[w.slug],
            body={"key": w.agent_secret, "ip": w.ip, "permission": "read:reports"},
        ),
    ),
}

# --- the rules -----------------------------------------------------------------------------


@dataclass
class Case:
    world: World
    door: Door
    monkeypatch: object

    @property
    def subject_id(self):
        return self.world.admin_id if self.door.subject == "admin" else self.world.agent_key_id

    @property
    def subject_secret(self):
        if self.door.subject == "admin":
            return self.world.admin_secret
        return self.world.agent_secret

    def later_by(self, minutes):
        """Move every clock that reads `timezone.now()` forward."""
        real = timezone.now
        self.monkeypatch.setattr(timezone, "now", lambda: real() + dt.timedelta(minutes=minutes))

    def spend_budget(self):
        """Use the subject key until it answers 429 (its rate limit or quota is 1)."""
        spend_budget(
            self.subject_secret, "admin/api-keys" if self.door.subject == "admin" else "agents/me"
        )


def _expire_key_soon(case):
    # Set before the door prepares, so a token minted then is capped at the key's expiry.
    key_row(case.subject_id).update(expires_at=later(10))


def _expire_agent_soon(case):
    agent_row(case.world.agent_id).update(expires_at=later(10))


def _revoke(case):
    case.world.admin("post", f"api-keys/{case.subject_id}/revoke", {"reason": "compromised"})


def _deactivate(case):
    case.world.admin("post", f"agents/{case.world.agent_id}/deactivate")


def _fence_key(case):
    key_row(case.subject_id).update(allowed_ips=FENCE)


def _fence_agent(case):
    agent_row(case.world.agent_id).update(allowed_ips=FENCE)


def _other_tenant(case):
    case.world.slug = "globex"


def _rate_limit(case):
    key_row(case.subject_id).update(rate_limit_per_minute=1)
    case.spend_budget()


def _deprecate(case):
    # A rotation with a grace period deprecates the old key and gives it an expiry (a Sunset).
    case.world.admin("post", f"api-keys/{case.subject_id}/rotate", {"gracePeriod": 3600})


def _key_quota(case):
    path = f"api-keys/{case.subject_id}"
    case.world.admin("patch", path, {"quota": {"limit": 1, "period": "day"}})
    case.spend_budget()


def _agent_quota(case):
    # Spent by another key of the agent: the agent's quota is shared by all its keys (§15).
    path = f"agents/{case.world.agent_id}"
    case.world.admin("patch", path, {"quota": {"limit": 1, "period": "month"}})
    other = case.world.admin("post", f"{path}/keys", {"name": "sibling"}).json()["apiKey"]
    assert call("get", api_url("acme-corp", "agents/me"), credential=other).status_code == 200
    assert call("get", api_url("acme-corp", "agents/me"), credential=other).status_code == 429


def _narrow_key(case):
    # The agent holds read:reports; its key is narrowed to a permission the agent lacks.
    path = f"api-keys/{case.subject_id}"
    case.world.admin("patch", path, {"permissions": ["read:invoices"]})


@dataclass(frozen=True)
class Rule:
    after: Callable = _nothing  # applied once the door has prepared
    before: Callable = _nothing  # applied before the door prepares
    audited: bool = False  # a refused key that exists leaves `api_key.rejected` (§3)


RULES = {
    "none": Rule(),
    "revoked": Rule(_revoke, audited=True),
    "expired": Rule(lambda c: c.later_by(11), _expire_key_soon, audited=True),
    "agent_inactive": Rule(_deactivate, audited=True),
    "agent_expired": Rule(lambda c: c.later_by(11), _expire_agent_soon, audited=True),
    "outside_key_ips": Rule(_fence_key, audited=True),
    "outside_agent_ips": Rule(_fence_agent, audited=True),
    "other_tenant": Rule(_other_tenant, audited=True),
    "rate_limited": Rule(_rate_limit),
    "deprecated": Rule(_deprecate),
    # Deleting the key ends it and the tokens it minted (§5, §10); it no longer exists, so a
    # use of it is an unknown key (logged, not audited).
    "deleted": Rule(lambda c: c.world.admin("delete", f"api-keys/{c.subject_id}")),
    "key_quota": Rule(_key_quota),
    "agent_quota": Rule(_agent_quota),
    "key_permissions": Rule(_narrow_key),
}

# --- the checks ----------------------------------------------------------------------------


def cell(door_name, rule_name):
    row = TABLE.get(door_name, ())
    index = RULE_NAMES.index(rule_name)
    return row[index] if index < len(row) else None


def test_the_table_is_complete():
    assert tuple(RULES) == RULE_NAMES
    assert set(TABLE) == set(DOORS)
    missing = [(door, rule) for door in DOORS for rule in RULE_NAMES if cell(door, rule) is None]
    assert not missing, f"empty cells: {missing}"
    assert all(len(row) == len(RULE_NAMES) for row in TABLE.values()), "a row has extra cells"


CASES = [
    pytest.param(door, rule, id=f"{door}-{rule}")
    for door in DOORS
    for rule in RULE_NAMES
    if cell(door, rule) is not NA
]


def knock(world, monkeypatch, door_name, rule_name):
    case = Case(world, DOORS[door_name], monkeypatch)
    rule = RULES[rule_name]
    rule.before(case)
    case.door.prepare(world)
    rule.after(case)
    return case, case.door.knock(world)


def deprecation_headers(world, subject_id):
    key = world.admin("get", f"api-keys/{subject_id}").json()
    deprecated_at = dt.datetime.fromisoformat(key["deprecatedAt"])
    expires_at = dt.datetime.fromisoformat(key["expiresAt"]).astimezone(dt.UTC)
    return {
        "Deprecation": f"@{int(deprecated_at.timestamp())}",
        "Sunset": format_datetime(expires_at, usegmt=True),
    }


@pytest.mark.parametrize(("door_name", "rule_name"), CASES)
def test_the_door_gives_the_specs_answer(world, monkeypatch, door_name, rule_name):
    expected = cell(door_name, rule_name)
    assert expected is not None, f"empty cell: {door_name} × {rule_name}"
    case, response = knock(world, monkeypatch, door_name, rule_name)
    if isinstance(expected, Code):
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["code"], body["deprecated"]) == (expected.code, expected.deprecated), body
        return
    assert response.status_code == expected.status, response.content
    if expected.status >= 400:
        assert response.json()["error"] == expected.error, response.content
    if expected.deprecated:
        wanted = deprecation_headers(world, case.subject_id)
        got = {name: response.get(name) for name in wanted}
        assert got == wanted


AUDITED_CASES = [
    pytest.param(door, rule, id=f"{door}-{rule}")
    for door in DOORS
    for rule in RULE_NAMES
    if DOORS[door].presents_key and RULES[rule].audited and cell(door, rule) is not NA
]


@pytest.mark.parametrize(("door_name", "rule_name"), AUDITED_CASES)
def test_a_refused_key_is_audited_in_its_own_tenant(
    world, tenant, monkeypatch, door_name, rule_name
):
    """§3 and §10: a key that exists but is refused leaves `api_key.rejected`, at every door."""
    case, _ = knock(world, monkeypatch, door_name, rule_name)
    rejected = tenant.audit_events.filter(action="api_key.rejected", target_id=case.subject_id)
    assert rejected.exists(), f"no api_key.rejected for {door_name} × {rule_name}"

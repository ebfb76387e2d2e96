"""The audit log: page, HTMX fragment, JSON list (and /orgs/ alias), another tenant (404),
filters, pagination, scopes and query counts."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access.actor import Actor
from audit.models import AuditEvent
from tests.conftest import HTMX, mint_admin_key

pytestmark = pytest.mark.django_db

PAGE = "/t/acme-corp/portal/audit-log"
API = "/t/acme-corp/api/v1/admin/audit-logs"
ORGS = "/orgs/acme-corp/api/v1/admin/audit-logs"

ALICE = Actor("user", "11111111-1111-1111-1111-111111111111", "alice@acme.test", ip="198.51.100.7")
BOT = Actor("api_key", "22222222-2222-2222-2222-222222222222", "deploy-bot")


def make_event(tenant, action, *, actor=ALICE, target=("agent", "a-1", "support-bot"), at=None):
    return AuditEvent.objects.create(
        tenant=tenant,
        action=action,
        occurred_at=at or timezone.now(),
        actor_type=actor.type,
        actor_id=actor.id,
        actor_name=actor.name,
        target_type=target[0],
        target_id=target[1],
        target_name=target[2],
        ip=actor.ip,
        metadata={"n": 1},
    )


def actions_in(response):
    return re.findall(r'<tr class="event" data-action="([^"]+)"', response.content.decode())


@pytest.fixture
def events(tenant):
    now = timezone.now()
    return [
        make_event(tenant, "agent.created", at=now - dt.timedelta(days=3)),
        make_event(
            tenant,
            "api_key.revoked",
            actor=BOT,
            target=("api_key", "k-9", "ci"),
            at=now - dt.timedelta(days=2),
        ),
        make_event(tenant, "agent.updated", at=now - dt.timedelta(days=1)),
    ]


# --- four ways ---------------------------------------------------------------------------


def test_audit_page_shows_events_newest_first_with_their_details(viewer_client, events):
    response = viewer_client.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and 'id="event-table"' in html
    assert actions_in(response) == ["agent.updated", "api_key.revoked", "agent.created"]
    assert "alice@acme.test" in html and "deploy-bot" in html and "support-bot" in html
    assert "<code>198.51.100.7</code>" in html
    assert "format=csv" in html and "format=jsonl" in html


def test_audit_fragment_for_htmx_is_the_event_table(viewer_client, events):
    response = viewer_client.get(PAGE, {"action": "agent.created"}, headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="event-table">')
    assert actions_in(response) == ["agent.created"]


@pytest.mark.parametrize("url", [API, ORGS])
def test_audit_json_lists_events_in_the_spec_shape(api, events, url):
    response = api.get(url)
    assert response.status_code == 200
    body = response.json()
    assert body["hasMore"] is False and body["nextCursor"] is None
    # Minting the API client's own key is in the log too (newest, at index 0).
    assert [e["action"] for e in body["data"]] == [
        "api_key.created",
        "agent.updated",
        "api_key.revoked",
        "agent.created",
    ]
    first = body["data"][1]
    assert set(first) == {
        "id",
        "occurredAt",
        "action",
        "actor",
        "target",
        "ip",
        "userAgent",
        "metadata",
        "prevHash",
        "hash",
    }
    assert first["prevHash"] == body["data"][2]["hash"]
    assert re.fullmatch(r"[0-9a-f]{64}", first["hash"])
    assert first["actor"] == {"type": "user", "id": ALICE.id, "name": "alice@acme.test"}
    assert first["target"] == {"type": "agent", "id": "a-1", "name": "support-bot"}
    assert first["ip"] == "198.51.100.7"
    assert first["metadata"] == {"n": 1}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["occurredAt"])


def test_audit_log_of_another_tenant_is_404(outsider_client, events):
    assert outsider_client.get(PAGE).status_code == 404
    assert outsider_client.get(PAGE, headers=HTMX).status_code == 404


def test_another_tenants_key_cannot_read_the_log(make_api, other_tenant, events):
    _, secret = mint_admin_key(other_tenant)
    assert make_api(secret).get(API).status_code == 401


def test_another_tenants_events_are_never_listed(api, tenant, other_tenant, events):
    make_event(other_tenant, "agent.deleted")
    actions = [e["action"] for e in api.get(API).json()["data"]]
    assert "agent.deleted" not in actions


def test_anonymous_is_sent_to_login_and_keyless_api_is_401(client, anon_api, events):
    assert client.get(PAGE).status_code == 302
    assert anon_api.get(API).status_code == 401


def test_a_session_reads_the_json_list_too(viewer_client, events):
    response = viewer_client.get(API)
    assert response.status_code == 200
    assert len(response.json()["data"]) == 3


def test_the_log_is_read_only(viewer_client, owner_client, api, events):
    assert api.post(API, {}).status_code == 405
    assert owner_client.post(PAGE).status_code == 405


# --- scopes ------------------------------------------------------------------------------


def test_audit_read_scope_is_needed(make_api, tenant, events):
    _, without = mint_admin_key(tenant, name="keys-only", scopes=["api_keys:read"])
    response = make_api(without).get(API)
    assert response.status_code == 403
    assert "audit:read" in response.json()["message"]
    _, reader = mint_admin_key(tenant, name="auditor", scopes=["audit:read"])
    assert make_api(reader).get(API).status_code == 200


# --- filters -----------------------------------------------------------------------------


def api_actions(api, **params):
    response = api.get(API, params)
    assert response.status_code == 200, response.content
    return [e["action"] for e in response.json()["data"] if e["action"] != "api_key.created"]


def test_action_filter_narrows_the_list(api, events):
    assert api_actions(api, action="agent.created") == ["agent.created"]


def test_actor_filter_narrows_by_id_or_by_name(api, events):
    assert api_actions(api, actorId=BOT.id) == ["api_key.revoked"]
    assert api_actions(api, actorId="DEPLOY-BOT") == ["api_key.revoked"]
    assert api_actions(api, actorId=ALICE.id) == ["agent.updated", "agent.created"]


def test_target_filter_narrows_the_list(api, events):
    assert api_actions(api, targetId="k-9") == ["api_key.revoked"]
    assert api_actions(api, targetId="support-bot") == ["agent.updated", "agent.created"]


def test_since_and_until_narrow_by_time(api, events):
    now = timezone.now()
    since = (now - dt.timedelta(days=2, hours=1)).isoformat()
    until = (now - dt.timedelta(hours=12)).isoformat()
    assert api_actions(api, since=since) == ["agent.updated", "api_key.revoked"]
    assert api_actions(api, until=until) == ["agent.updated", "api_key.revoked", "agent.created"]
    assert api_actions(api, since=since, until=until) == ["agent.updated", "api_key.revoked"]
    until = (now - dt.timedelta(days=1, hours=12)).isoformat()
    assert api_actions(api, since=since, until=until) == ["api_key.revoked"]


def test_date_only_bounds_cover_whole_days(api, events):
    day = events[1].occurred_at.date().isoformat()
    assert api_actions(api, since=day, until=day) == ["api_key.revoked"]


def test_page_filters_narrow_the_table_and_keep_their_values(viewer_client, events):
    response = viewer_client.get(PAGE, {"actorId": "deploy-bot"})
    assert actions_in(response) == ["api_key.revoked"]
    html = response.content.decode()
    assert 'name="actorId" value="deploy-bot"' in html
    assert (
        "format=csv&amp;actorId=deploy-bot" in html or "actorId=deploy-bot&amp;format=csv" in html
    )


@pytest.mark.parametrize(
    "params, field",
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-02-30"}, "until"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "until"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
def test_bad_filters_are_400_with_details(api, events, params, field):
    response = api.get(API, params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "bad_request" and field in body["details"]


# --- pagination --------------------------------------------------------------------------


def test_cursor_pages_through_every_event_once(api, tenant):
    base = timezone.now()
    for i in range(7):
        make_event(tenant, "agent.updated", at=base - dt.timedelta(minutes=i))
    seen, cursor = [], None
    while True:
        params = {"limit": 3, "action": "agent.updated"}
        if cursor:
            params["cursor"] = cursor
        body = api.get(API, params).json()
        seen += [e["id"] for e in body["data"]]
        if not body["hasMore"]:
            break
        cursor = body["nextCursor"]
    assert len(seen) == len(set(seen)) == 7


def test_page_offers_load_more_that_continues_after_the_last_row(viewer_client, tenant):
    base = timezone.now()
    for i in range(5):
        make_event(tenant, "agent.updated", at=base - dt.timedelta(minutes=i))
    response = viewer_client.get(PAGE, {"limit": 3})
    html = response.content.decode()
    more = re.search(r'<a class="button secondary" href="([^"]+)" hx-get=', html).group(1)
    assert ">Load more</a>" in html
    assert len(actions_in(response)) == 3
    more = more.replace("&amp;", "&")
    second = viewer_client.get(PAGE + more, headers=HTMX)
    assert len(actions_in(second)) == 2
    assert "Load more" not in second.content.decode()


# --- query counts ------------------------------------------------------------------------


def count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", [PAGE, API])
def test_audit_list_costs_the_same_queries_for_1_and_50_events(viewer_client, tenant, url):
    make_event(tenant, "agent.created")
    one = count_queries(viewer_client, url)
    for _ in range(49):
        make_event(tenant, "agent.created")
    fifty = count_queries(viewer_client, url)
    assert one == fifty
    assert fifty <= 5


def test_table_summarises_metadata_without_empty_values(viewer_client, tenant):
    AuditEvent.objects.create(
        tenant=tenant,
        action="api_key.created",
        actor_type="user",
        metadata={"prefix": "lmk_abc", "agentId": None, "scopes": ["agents:read", "audit:read"]},
    )
    html = viewer_client.get(PAGE).content.decode()
    assert '<span class="muted">prefix</span> <span title="lmk_abc">lmk_abc</span>' in html
    assert '<span class="muted">scopes</span> <span title="agents:read, audit:read">' in html
    assert "agentId" not in html and "agent id" not in html


# --- the portal's filter form: errors in place ------------------------------------------------


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_a_range_ending_before_it_starts_is_shown_on_the_filter_form(owner_client, events, headers):
    params = {"since": "2026-03-02", "until": "2026-03-01", "actorId": "deploy-bot"}
    response = owner_client.get(PAGE, params, headers=headers)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="event-table"' in html
    assert "These filters can’t be used" in html and "To: Must not be before since." in html
    if not headers:  # the whole page, with the form and what was typed, not a dead end
        assert '<form class="filters"' in html and 'name="since" value="2026-03-02"' in html
        assert 'name="until" value="2026-03-01" aria-invalid="true"' in html
        assert 'value="deploy-bot"' in html and "<nav" in html
    assert 'class="event"' not in html  # no events listed under a filter that didn't apply


def test_audit_details_are_written_for_people(tenant):
    event = AuditEvent(
        tenant=tenant,
        action="api_key.rotated",
        metadata={
            "gracePeriod": 604800,
            "scopes": ["agents:read", "audit:read"],
            "expiresAt": "2026-12-01T10:30:00.123456+00:00",
            "isActive": True,
            "changes": {"description": [[], ["x"]], "rateLimitPerMinute": [None, 60]},
        },
    )
    items = dict(event.metadata_items)
    assert items["grace period"] == "7 days"
    assert items["scopes"] == "agents:read, audit:read"
    assert items["expires at"] == "2026-12-01 10:30 UTC"
    assert items["is active"] == "yes"
    assert items["description"] == "none → x"
    assert items["rate limit per minute"] == "none → 60"
    text = " ".join(v for _, v in event.metadata_items)
    assert "True" not in text and "{" not in text and "[" not in text and "604800" not in text

"""IP allowlists with agent keys: the agent's list and the key's own list; empty or null means
no restriction; IPv4-mapped IPv6 matches an IPv4 CIDR; X-Forwarded-For counts only from
TRUSTED_PROXIES; a refused request is a 403 with an `api_key.rejected` event."""

import pytest

from agents import services
from agents.models import Agent
from portal import proxies
from tests.agents.conftest import RUNTIME, SYSTEM, make_agent
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def fenced(tenant):
    """(agent, secret) of an agent allowed only from 10.0.0.0/8 and 2001:db8::/32."""
    agent, _, secret = make_agent(
        tenant, name="fenced", allowed_ips=["10.0.0.0/8", "2001:db8::/32"]
    )
    return agent, secret


@pytest.fixture
def trusted_proxy(settings):
    """A load balancer at 192.0.2.10 whose X-Forwarded-For is believed."""
    settings.TRUSTED_PROXIES = ["192.0.2.10/32"]
    proxies.trusted_networks.cache_clear()
    yield "192.0.2.10"
    proxies.trusted_networks.cache_clear()


def call(secret, **meta):
    return ApiClient(secret).get(RUNTIME, **meta)


def rejections(tenant):
    return list(
        tenant.audit_events.filter(action="api_key.rejected").values_list("metadata", flat=True)
    )


def test_request_from_inside_the_allowlist_is_served(fenced):
    assert call(fenced[1], REMOTE_ADDR="10.20.30.40").status_code == 200
    assert call(fenced[1], REMOTE_ADDR="2001:db8::1").status_code == 200


def test_request_from_outside_is_a_403_and_audited(tenant, fenced):
    response = call(fenced[1], REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    events = tenant.audit_events.filter(action="api_key.rejected")
    assert events.count() == 1
    event = events.get()
    assert event.metadata["reason"] == "ip_not_allowed"
    assert event.ip == "198.51.100.7" and event.actor_type == "agent"
    assert fenced[1] not in str(event.metadata)


def test_ipv4_mapped_ipv6_address_is_admitted_by_an_ipv4_cidr(fenced):
    assert call(fenced[1], REMOTE_ADDR="::ffff:10.1.2.3").status_code == 200
    assert call(fenced[1], REMOTE_ADDR="::ffff:198.51.100.7").status_code == 403


def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(tenant, fenced):
    response = call(fenced[1], REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert response.status_code == 403
    assert rejections(tenant)[0]["reason"] == "ip_not_allowed"


def test_forwarded_for_from_a_trusted_proxy_is_honoured(tenant, fenced, trusted_proxy):
    inside = call(fenced[1], REMOTE_ADDR=trusted_proxy, HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert inside.status_code == 200
    outside = call(fenced[1], REMOTE_ADDR=trusted_proxy, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert outside.status_code == 403
    # A client-supplied hop before the proxy's own entry does not help either.
    spoofed = call(
        fenced[1], REMOTE_ADDR=trusted_proxy, HTTP_X_FORWARDED_FOR="10.1.2.3, 198.51.100.7"
    )
    assert spoofed.status_code == 403
    assert rejections(tenant)[0]["reason"] == "ip_not_allowed"


def test_trusted_proxy_without_forwarded_for_is_judged_by_its_own_address(fenced, trusted_proxy):
    assert call(fenced[1], REMOTE_ADDR=trusted_proxy).status_code == 403


@pytest.mark.parametrize("allowed", [None, []])
def test_empty_or_null_allowlist_means_no_restriction(tenant, allowed):
    agent, _, secret = make_agent(tenant, name="open")
    Agent.objects.filter(pk=agent.pk).update(allowed_ips=allowed)
    assert call(secret, REMOTE_ADDR="198.51.100.7").status_code == 200
    assert call(secret, REMOTE_ADDR="2001:db8::9").status_code == 200


def test_the_keys_own_allowlist_also_applies(tenant):
    agent = make_agent(tenant, name="open")[0]
    _, secret = services.mint_agent_key(
        tenant, SYSTEM, agent, name="fenced-key", allowed_ips=["203.0.113.0/24"]
    )
    assert call(secret, REMOTE_ADDR="203.0.113.9").status_code == 200
    assert call(secret, REMOTE_ADDR="10.1.2.3").status_code == 403


def test_both_lists_must_admit_the_address(tenant, fenced):
    _, secret = services.mint_agent_key(
        tenant, SYSTEM, fenced[0], name="narrow", allowed_ips=["10.1.0.0/16"]
    )
    assert call(secret, REMOTE_ADDR="10.1.2.3").status_code == 200
    assert call(secret, REMOTE_ADDR="10.2.0.1").status_code == 403


def test_allowlist_change_takes_effect_at_once(api, tenant, fenced):
    assert call(fenced[1], REMOTE_ADDR="198.51.100.7").status_code == 403
    api.patch(f"/t/acme-corp/api/v1/admin/agents/{fenced[0].pk}", {"allowedIps": None})
    assert call(fenced[1], REMOTE_ADDR="198.51.100.7").status_code == 200

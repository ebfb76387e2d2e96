"""OAuth clients: dynamic registration (RFC 7591) and the agent page's client panel."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from access import tokens
from agents import services as agent_services
from audit.services import record
from oauth.models import AccessToken

GRANT_TYPES = ("client_credentials", "refresh_token")
AUTH_METHODS = ("client_secret_basic", "client_secret_post")


def client_summary(tenant, agent) -> dict:
    """What the agent page's "OAuth client" panel shows; one query (live access tokens)."""
    live = AccessToken.objects.filter(
        family__tenant=tenant,
        family__agent=agent,
        family__revoked_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).count()
    return {
        "client_id": str(agent.pk),
        "token_url": f"{tokens.issuer(tenant.slug)}/oauth/token",
        "lifetime": settings.OAUTH_ACCESS_TOKEN_SECONDS,
        "live_tokens": live,
    }


def register_client(tenant, actor, *, client_name, scope, grant_types, auth_method) -> dict:
    """RFC 7591: an `integration` agent whose direct permissions are `scope`, and its first key
    (the client secret, shown once). Input is already validated by the view."""
    with transaction.atomic():
        agent, _key, secret = agent_services.create_agent(
            tenant, actor, name=client_name, type="integration", permissions=scope
        )
        record(
            tenant,
            actor,
            "oauth.client_registered",
            target=agent,
            metadata={"scope": scope, "grantTypes": grant_types, "authMethod": auth_method},
        )
    return {
        "client_id": str(agent.pk),
        "client_secret": secret,
        "client_id_issued_at": int(agent.created_at.timestamp()),
        "client_secret_expires_at": 0,
        "client_name": agent.name,
        "scope": " ".join(scope),
        "grant_types": grant_types,
        "token_endpoint_auth_method": auth_method,
    }

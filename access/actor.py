"""Who did it: the actor recorded on objects (`createdBy`) and audit events."""

from dataclasses import dataclass, field

from access import credentials
from access.keyformat import ADMIN


@dataclass
class Actor:
    type: str  # "user" | "api_key" | "agent" | "system"
    id: str
    name: str
    ip: str | None = None
    user_agent: str = ""
    user: object = None
    membership: object = None
    key: object = None  # the access.keys.KeyRow that authenticated
    agent: object = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def for_user(cls, user, request=None, membership=None):
        return cls(
            "user", str(user.pk), user.email, *_origin(request), user=user, membership=membership
        )

    @classmethod
    def for_key(cls, key, request=None):
        if key.agent_id:
            agent = key.agent
            return cls("agent", str(agent.pk), agent.name, *_origin(request), key=key, agent=agent)
        return cls("api_key", str(key.pk), key.name, *_origin(request), key=key)

    @classmethod
    def for_agent(cls, agent_id, name: str, ip: str | None = None):
        """An agent acting through a token (its refresh, a replay of it)."""
        return cls("agent", str(agent_id), name, ip)

    @classmethod
    def system(cls, name: str):
        """Tessera itself or the operator's shell (manage.py, the worker): type "system"."""
        return cls("system", "", name)

    @property
    def scopes(self) -> list[str] | None:
        """The admin scopes limiting this actor, or None when it is not limited by scopes."""
        if self.key is not None and self.key.kind == ADMIN and self.key.scopes:
            return list(self.key.scopes)
        return None

    def as_ref(self) -> dict:
        return {"type": self.type, "id": self.id, "name": self.name}


def _origin(request):
    if request is None:
        return None, ""
    return credentials.client_ip(request), request.META.get("HTTP_USER_AGENT", "")[:500]

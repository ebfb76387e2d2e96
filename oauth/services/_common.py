"""What issuance and revocation share: finding a refresh token."""

from access import keyformat
from oauth.models import RefreshToken


def _find_refresh(raw, tenant_slug: str, *, lock: bool):
    """The refresh token `raw` is in this tenant (with its family, agent and key), or None."""
    public_id = keyformat.parse_refresh(raw)
    if public_id is None:
        return None
    queryset = RefreshToken.objects.select_related(
        "family", "family__tenant", "family__agent", "family__key"
    )
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    found = queryset.filter(public_id=public_id).first()
    if (
        found is None
        or found.family.tenant.slug != tenant_slug
        or not keyformat.matches(raw, found.pepper_id, found.digest)
    ):
        return None
    return found

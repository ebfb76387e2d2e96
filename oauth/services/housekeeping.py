"""Housekeeping: pruning expired token rows, and the staged rotation of signing keys."""

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from access import signing
from oauth.models import AccessToken, RefreshToken, SigningKey, TokenFamily

# Rows are kept a day past their expiry, so a clock a little behind never meets a missing row.
PRUNE_GRACE = dt.timedelta(days=1)


def prune_tokens(*, now=None) -> int:
    """Delete access and refresh tokens that expired more than a day ago, and the grants left
    with neither (a scheduled job of `runworker`). A spent refresh token stays until it expires,
    so presenting it again is still recognised as a replay until then. Returns rows deleted."""
    cutoff = (now or timezone.now()) - PRUNE_GRACE
    with transaction.atomic():
        access, _ = AccessToken.objects.filter(expires_at__lte=cutoff).delete()
        refresh, _ = RefreshToken.objects.filter(expires_at__lte=cutoff).delete()
        families, _ = TokenFamily.objects.filter(
            created_at__lte=cutoff, access__isnull=True, refresh__isnull=True
        ).delete()
    return access + refresh + families


@dataclass(frozen=True, slots=True)
class Rotation:
    created: SigningKey
    retiring: list[tuple[str, dt.datetime]]  # (kid, retired_at) of the keys it replaces
    deleted: list[str]  # kids of keys retired before now, removed with their private parts


def rotate_signing_key(*, publish_for: int, token_seconds: int) -> Rotation:
    """Staged rotation (SPEC §10): publish a new key now, sign with it `publish_for` seconds
    from now, and retire every key it replaces once the last token they can still sign has
    expired: `token_seconds` after the switch, plus the `signing.TTL` a process may go on
    signing with a key set it loaded before the switch. Keys already retired are deleted."""
    now = timezone.now()
    starts = now + dt.timedelta(seconds=publish_for)
    retires = starts + dt.timedelta(seconds=signing.TTL + token_seconds)
    with transaction.atomic():
        deleted = list(SigningKey.objects.filter(retired_at__lte=now).values_list("kid", flat=True))
        SigningKey.objects.filter(kid__in=deleted).delete()
        replaced = SigningKey.objects.select_for_update().filter(
            Q(retired_at__isnull=True) | Q(retired_at__gt=retires)
        )
        retiring = [(kid, retires) for kid in replaced.values_list("kid", flat=True)]
        replaced.update(retired_at=retires)
        created = signing.create_key(signs_from=starts)
    signing.reset()
    return Rotation(created=created, retiring=retiring, deleted=deleted)

"""Keyset (cursor) pagination, newest first: `?limit=` 1–200 (default 50) and `?cursor=`.

The cursor is an opaque token for the last row's (timestamp, id); a page costs one query
however deep it is.
"""

import base64
import binascii
import json
import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.dateparse import parse_datetime

from portal.errors import Invalid
from portal.validation import to_utc

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass
class Page:
    rows: list
    has_more: bool
    next_cursor: str | None

    def as_json(self, serialize) -> dict:
        return {
            "data": [serialize(row) for row in self.rows],
            "hasMore": self.has_more,
            "nextCursor": self.next_cursor,
        }


def _encode(ts, pk) -> str:
    raw = json.dumps([ts.isoformat(), str(pk)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str):
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts_text, pk_text = json.loads(raw)
        if not isinstance(ts_text, str) or not isinstance(pk_text, str):
            raise TypeError
        ts = parse_datetime(ts_text)
        pk = uuid.UUID(pk_text)
        if ts is None:
            raise ValueError
        ts = to_utc(ts)
    except (ValueError, TypeError, binascii.Error, ValidationError):
        # A cursor is opaque: whatever a client crafted in it is a 400, never a 500.
        raise Invalid({"cursor": ["Invalid cursor."]}) from None
    return ts, pk


def parse_limit(request) -> int:
    raw = request.GET.get("limit", "")
    if raw == "":
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise Invalid({"limit": ["Must be an integer from 1 to 200."]}) from None
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid({"limit": ["Must be an integer from 1 to 200."]})
    return limit


def paginate(request, queryset, *, order_field: str = "created_at") -> Page:
    limit = parse_limit(request)
    cursor = request.GET.get("cursor") or None
    queryset = queryset.order_by(f"-{order_field}", "-id")
    if cursor:
        ts, pk = _decode(cursor)
        queryset = queryset.filter(
            Q(**{f"{order_field}__lt": ts}) | Q(**{order_field: ts, "id__lt": pk})
        )
    rows = list(queryset[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode(getattr(rows[-1], order_field), rows[-1].pk) if has_more else None
    return Page(rows=rows, has_more=has_more, next_cursor=next_cursor)

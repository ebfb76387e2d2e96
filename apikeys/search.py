"""`?q=` on the key and agent lists: one condition, used by the portal tables and the JSON lists."""

from django.db.models import Q

from access.keyformat import TYPE_PREFIXES


def key_search(q: str) -> Q:
    """Keys whose name or note contains `q`, or whose prefix starts with it (`lmk_AbC…`).

    Prefixes are case-sensitive (base62), names and notes are not.
    """
    q = q.strip()
    match = Q(name__icontains=q) | Q(note__icontains=q)
    for kind, type_prefix in TYPE_PREFIXES.items():
        if q.startswith(type_prefix):
            match |= Q(kind=kind, public_id__startswith=q[len(type_prefix) :])
    return match

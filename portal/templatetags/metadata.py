"""`meta` (SPEC §15) as the portal shows and edits it: indented JSON text."""

import json

from django import template

register = template.Library()


@register.filter
def json_text(value) -> str:
    """Indented JSON for a textarea or a <pre>; an empty object is an empty box."""
    if not value:
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)

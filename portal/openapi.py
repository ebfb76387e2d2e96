"""`GET /api/v1/openapi.json`: the OpenAPI 3.1 document (portal/openapi.yaml) as JSON.

The YAML is the source; it is read and converted once per process. No authentication.
"""

import json
from functools import cache
from pathlib import Path

import yaml
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.http import require_GET

DOCUMENT = Path(__file__).with_name("openapi.yaml")


@cache
def document() -> dict:
    with DOCUMENT.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@cache
def _document_json() -> bytes:
    return json.dumps(document(), separators=(",", ":")).encode()


@require_GET
def openapi_json(request):
    response = HttpResponse(_document_json(), content_type="application/json")
    response["Cache-Control"] = "public, max-age=300"
    return response


root_patterns = [path("api/v1/openapi.json", openapi_json, name="openapi")]

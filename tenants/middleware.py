"""Confirm access from an HTMX form: allauth answers a post that needs the check with a redirect
to its confirmation page, which htmx would follow in the background and swap into the form's
target. An HTMX request gets `HX-Redirect` instead, so the browser opens the page itself; the
post is kept by allauth and completes after the check.

The kept post is replayed by the confirmation page, a whole page in the browser: it is kept
without its `HX-*` headers, so the view answers that page, not the fragment the form asked for."""

import json

from allauth.account.internal.flows.reauthentication import STATE_SESSION_KEY
from django.http import HttpResponse
from django.urls import reverse

CONFIRM_PAGES = ("account_reauthenticate", "mfa_reauthenticate", "mfa_reauthenticate_webauthn")


class HtmxConfirmAccessMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 302 and request.headers.get("HX-Request") == "true":
            location = response["Location"]
            if any(location.startswith(reverse(name)) for name in CONFIRM_PAGES):
                _kept_as_a_page(request)
                redirect = HttpResponse(status=204)
                redirect["HX-Redirect"] = location
                return redirect
        return response


def _kept_as_a_page(request) -> None:
    state = request.session.get(STATE_SESSION_KEY)
    if not isinstance(state, dict) or "request" not in state:
        return
    kept = json.loads(state["request"])
    kept["META"] = {k: v for k, v in kept["META"].items() if not k.startswith("HTTP_HX_")}
    request.session[STATE_SESSION_KEY] = {**state, "request": json.dumps(kept)}

"""Confirm access from an HTMX form: allauth answers a post that needs the check with a redirect
to its confirmation page, which htmx would follow in the background and swap into the form's
target. An HTMX request gets `HX-Redirect` instead, so the browser opens the page itself; the
post is kept by allauth and completes after the check."""

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
                redirect = HttpResponse(status=204)
                redirect["HX-Redirect"] = location
                return redirect
        return response

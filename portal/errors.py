"""Domain errors with stable machine codes (SPEC §4).

Services raise these and know nothing of HTTP; `portal.middleware` renders them in one place:
JSON under `/api/v1/`, an HTML page or HTMX fragment in the portal.
"""


class ApiError(Exception):
    status = 500
    code = "internal_error"
    default_message = "Internal server error."

    def __init__(self, message: str | None = None, *, details=None, headers=None):
        self.message = message or self.default_message
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)

    def as_dict(self) -> dict:
        return self.body(self.code, self.message, self.status, self.details)

    @staticmethod
    def body(code: str, message: str, status: int, details=None) -> dict:
        """The SPEC §4 error body."""
        body = {"error": code, "message": message, "status": status}
        if details:
            body["details"] = details
        return body


class BadRequest(ApiError):
    status, code, default_message = 400, "bad_request", "Bad request."


class Invalid(BadRequest):
    """Validation failed; `details` maps each field to its messages."""

    default_message = "Validation failed."

    def __init__(self, details: dict, message: str | None = None):
        details = {
            k: [str(m) for m in (v if isinstance(v, list | tuple) else [v])]
            for k, v in details.items()
        }
        super().__init__(message or self.default_message, details=details)


class Unauthorized(ApiError):
    status, code, default_message = 401, "unauthorized", "Missing or invalid credentials."

    def __init__(self, message=None, **kwargs):
        super().__init__(message, **kwargs)
        self.headers.setdefault("WWW-Authenticate", 'Bearer realm="tessera"')


class Forbidden(ApiError):
    status, code, default_message = 403, "forbidden", "You are not allowed to do this."


class NotFound(ApiError):
    status, code, default_message = 404, "not_found", "Not found."


class MethodNotAllowed(ApiError):
    status, code, default_message = 405, "method_not_allowed", "Method not allowed."


class Conflict(ApiError):
    status, code, default_message = 409, "conflict", "Conflict with the current state."


class PayloadTooLarge(ApiError):
    status, code, default_message = 413, "payload_too_large", "Request body is over 1 MiB."


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"
    default_message = "Send the body as JSON with Content-Type: application/json."


class Unprocessable(ApiError):
    status, code, default_message = 422, "unprocessable_entity", "Unprocessable entity."


class RateLimited(ApiError):
    status, code, default_message = 429, "rate_limited", "Rate limit exceeded."


class QuotaExceeded(RateLimited):
    """Past a key's or agent's day or month quota (SPEC §15): 429 until the period ends."""

    code, default_message = "quota_exceeded", "Quota exceeded for this period."


class ServiceUnavailable(ApiError):
    status, code, default_message = 503, "service_unavailable", "Service unavailable."


BY_STATUS = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        Unprocessable,
        RateLimited,
        ServiceUnavailable,
        ApiError,
    )
}


def for_status(status: int, message: str | None = None) -> ApiError:
    cls = BY_STATUS.get(status)
    if cls is None:
        cls = BadRequest if status < 500 else ApiError
    err = cls(message)
    if cls in (BadRequest, ApiError):
        err.status = status
    return err


# --- OAuth (RFC 6749 §5.2) in Tessera's shape: {error, error_description, message, status} --


class OAuthError(ApiError):
    def __init__(self, code: str, description: str, status: int = 400, headers=None):
        super().__init__(description, headers=headers)
        self.code = code
        self.status = status

    def as_dict(self) -> dict:
        return {
            "error": self.code,
            "error_description": self.message,
            "message": self.message,
            "status": self.status,
        }


def invalid_client(description="Client authentication failed.") -> OAuthError:
    return OAuthError(
        "invalid_client", description, 401, headers={"WWW-Authenticate": 'Basic realm="tessera"'}
    )


def invalid_grant(description="The refresh token is invalid, expired or spent.") -> OAuthError:
    return OAuthError("invalid_grant", description)


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)

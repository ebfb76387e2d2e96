"""OAuth errors (RFC 6749 §5.2) in Tessera's shape:
`{error, error_description, message, status}`."""

from portal.errors import ApiError


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

"""The error taxonomy of a failed call, and the one mapping from what a source knows to a category.

Every source classifies through here: the same upstream failure (say a 504 from a gateway) lands in
the same dashboard category whether it was seen by groq_service, posted to /api/ingest/ or exported
as an OpenTelemetry span.
"""

from django.db import models


class ErrorType(models.TextChoices):
    """Why a call failed; the raw HTTP status and message are kept beside it on the row."""

    RATE_LIMIT = "rate_limit", "Rate limit (429)"
    TIMEOUT = "timeout", "Timeout"
    CONNECTION = "connection", "Connection"
    AUTHENTICATION = "authentication", "Authentication (401)"
    PERMISSION = "permission", "Permission (403)"
    BAD_REQUEST = "bad_request", "Bad request (400/404/422)"
    CONTEXT_LENGTH = "context_length", "Context length"
    SERVER_ERROR = "server_error", "Server error (5xx)"
    INVALID_RESPONSE = "invalid_response", "Invalid response"
    CONFIGURATION = "configuration", "Configuration"
    CANCELLED = "cancelled", "Cancelled"
    UNKNOWN = "unknown", "Unknown"


RETRYABLE = frozenset({ErrorType.RATE_LIMIT, ErrorType.TIMEOUT, ErrorType.CONNECTION, ErrorType.SERVER_ERROR})


def classify_status(http_status: int | None, *, code: str = "", message: str = "") -> str:
    """The category of an HTTP error status, refined by the provider's error code or message.

    A prompt over the model's window is `context_length` whatever status carries it (Groq answers
    400 with code context_length_exceeded; proxies answer 413). 408 and 504 are timeouts, whoever
    timed out. Any other 4xx is the caller's `bad_request`, any 5xx the provider's `server_error`;
    no status, or one that is not an error, says nothing more: `unknown`.
    """
    hint = f"{code} {message}".lower()
    if http_status == 413 or "context_length" in hint or "context length" in hint:
        return ErrorType.CONTEXT_LENGTH
    if http_status is None or not 400 <= http_status <= 599:
        return ErrorType.UNKNOWN
    return _BY_STATUS.get(http_status) or (ErrorType.SERVER_ERROR if http_status >= 500 else ErrorType.BAD_REQUEST)


_BY_STATUS = {
    401: ErrorType.AUTHENTICATION,
    403: ErrorType.PERMISSION,
    408: ErrorType.TIMEOUT,
    429: ErrorType.RATE_LIMIT,
    504: ErrorType.TIMEOUT,
}

_TAXONOMY = frozenset(choice.value for choice in ErrorType)
# Exception class names of the OpenAI-style SDKs (Groq, OpenAI, ...) and common spellings.
_ALIASES = {
    "ratelimiterror": ErrorType.RATE_LIMIT,
    "rate_limit_exceeded": ErrorType.RATE_LIMIT,
    "apitimeouterror": ErrorType.TIMEOUT,
    "timeouterror": ErrorType.TIMEOUT,
    "readtimeout": ErrorType.TIMEOUT,
    "connecttimeout": ErrorType.TIMEOUT,
    "timeoutexception": ErrorType.TIMEOUT,
    "apiconnectionerror": ErrorType.CONNECTION,
    "connectionerror": ErrorType.CONNECTION,
    "connecterror": ErrorType.CONNECTION,
    "authenticationerror": ErrorType.AUTHENTICATION,
    "permissiondeniederror": ErrorType.PERMISSION,
    "badrequesterror": ErrorType.BAD_REQUEST,
    "notfounderror": ErrorType.BAD_REQUEST,
    "unprocessableentityerror": ErrorType.BAD_REQUEST,
    "context_length_exceeded": ErrorType.CONTEXT_LENGTH,
    "internalservererror": ErrorType.SERVER_ERROR,
    "apistatuserror": ErrorType.SERVER_ERROR,
    "cancellederror": ErrorType.CANCELLED,
}


def classify_reported(raw: str) -> tuple[str, str]:
    """(category, raw value to keep) for an error type as a sender spells it.

    Taxonomy values are kept as they are (raw ''); exception class names ('groq.RateLimitError')
    and three-digit status codes ('429') are mapped; anything else becomes 'unknown', with the
    raw value kept.
    """
    raw = raw.strip()
    if raw in _TAXONOMY:
        return raw, ""
    alias = _ALIASES.get(raw.rsplit(".", 1)[-1].lower())
    if alias:
        return alias, raw
    if raw.isascii() and raw.isdigit() and len(raw) == 3:
        return classify_status(int(raw)), raw
    return ErrorType.UNKNOWN, raw

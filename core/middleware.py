"""Site-wide response rules: security headers, and a readable 503 while the database is down."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

# Everything from our own origin only. `data:` images are the inline SVG icons of the
# built stylesheet (select arrows, checkboxes) and the empty favicon.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# Responses of these prefixes can carry prompts and responses: no cache may keep them.
NO_STORE_PREFIXES = ("/api/", "/v1/")
RETRY_AFTER_SECONDS = "5"


class SecurityHeadersMiddleware:
    """Content-Security-Policy on every HTML page; `Cache-Control: no-store` on the API."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(NO_STORE_PREFIXES):
            response["Cache-Control"] = "no-store"
        if response.get("Content-Type", "").startswith("text/html"):
            response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


class DatabaseUnavailableMiddleware:
    """Answers 503 with Retry-After, not a 500 and a traceback, when the database cannot be reached.

    The API's own exception handler does the same for API views; this covers the pages, the
    admin and the login form, whose views (and the templates that read `request.user`) touch
    the database first.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.error("Database unavailable during %s: %s", request.path, exception)
        if request.path.startswith(NO_STORE_PREFIXES):
            body = {"error": "The database is unavailable; retry later.", "fields": {}}
            response = JsonResponse(body, status=503)
        else:
            # Rendered without the request: its user and context processors need the database.
            response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = RETRY_AFTER_SECONDS
        return response

"""Ingest-key authentication, for the ingest endpoints only.

Deliberately not in REST_FRAMEWORK's default classes: a key lets an application send
calls and nothing else. The request gets an anonymous user and the key as request.auth,
so no permission that looks at the user can ever pass on a key.
"""

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from llm.models import IngestKey
from llm.sources.ingest import ingest_key_find, ingest_key_touch

MISSING_KEY = "An ingest key is required: 'Authorization: Bearer <key>' or 'x-api-key: <key>'."


def _presented_secret(request) -> str | None:
    header = authentication.get_authorization_header(request).decode("latin-1").split()
    if header and header[0].lower() == "bearer":
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header; use 'Bearer <ingest key>'.")
        return header[1]
    return request.META.get("HTTP_X_API_KEY", "").strip() or None


class IngestKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>` or `x-api-key: <key>`; 401 for a missing, unknown or revoked key."""

    def authenticate(self, request):
        secret = _presented_secret(request)
        if secret is None:
            raise exceptions.NotAuthenticated(MISSING_KEY)
        key = ingest_key_find(secret=secret)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid ingest key.")
        if not key.is_active:
            raise exceptions.AuthenticationFailed("This ingest key has been revoked.")
        ingest_key_touch(key=key)
        return AnonymousUser(), key

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) when no key was sent.
        return 'Bearer realm="ingest"'


class HasIngestKey(permissions.BasePermission):
    message = MISSING_KEY

    def has_permission(self, request, view):
        return isinstance(request.auth, IngestKey)


class IngestKeyScheme(OpenApiAuthenticationExtension):
    target_class = "llm.api.authentication.IngestKeyAuthentication"
    name = "ingestKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An ingest key (llmo_...)."}

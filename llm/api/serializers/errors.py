"""The one error body of the API, as llm.api.exceptions builds it, declared for the schema."""

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

ERROR_DESCRIPTIONS = {
    400: "Invalid input: `fields` names each bad parameter or body field.",
    401: "No credentials, or credentials that are not valid.",
    403: "Not allowed: a session request that changes something must send its CSRF token.",
    404: "No such object.",
    413: "The body is too large, or holds too many events.",
    415: "The body's Content-Type or Content-Encoding is not accepted.",
    503: "The database is unavailable; retry after the Retry-After seconds.",
}
# What any endpoint behind the default (token or session) authentication can answer.
READ_ERRORS = (401, 503)
WRITE_ERRORS = (400, 401, 403, 503)


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="What went wrong, in one sentence.")
    fields = serializers.DictField(
        child=serializers.CharField(),
        help_text="Parameter or body field name → its problem; empty when the error is not about one field.",
    )


def error_responses(*statuses: int, media_type: str | None = None) -> dict:
    """Schema responses for these error statuses, all with the one error body.

    Keyed by status, or by (status, media_type) for an operation whose answers come in several types.
    """
    return {
        (status if media_type is None else (status, media_type)): OpenApiResponse(
            ErrorSerializer, description=ERROR_DESCRIPTIONS[status]
        )
        for status in statuses
    }

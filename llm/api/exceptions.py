"""One error shape for the whole API: {"error": "...", "fields": {name: message}}."""

import logging

from django.db import OperationalError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class InvalidParameter(exceptions.ValidationError):
    """A query parameter or body field that cannot be used; always a 400 naming the field."""

    def __init__(self, field: str, message: str):
        super().__init__({field: [message]})


def _first_message(value) -> str:
    if isinstance(value, list | tuple):
        return _first_message(value[0]) if value else ""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_first_message(v)}" for k, v in value.items())
    return str(value)


def _flatten_fields(detail) -> dict[str, str]:
    if isinstance(detail, dict):
        return {str(name): _first_message(messages) for name, messages in detail.items()}
    return {"non_field_errors": _first_message(detail)}


def api_exception_handler(exc, context):
    if isinstance(exc, OperationalError):
        # The database is down or locked: the sender still holds its data and should
        # retry (ingest batches are idempotent), so say so instead of a bare 500.
        logger.error("Database unavailable during %s: %s", context["request"].path, exc)
        body = {"error": "The database is unavailable; retry later.", "fields": {}}
        return Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "5"})
    response = exception_handler(exc, context)
    if response is None:
        return None  # A real bug: let Django log it and answer 500.
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten_fields(exc.detail)
        names = ", ".join(fields)
        body = {"error": f"Invalid input: {names}", "fields": fields}
        return Response(body, status=status.HTTP_400_BAD_REQUEST, headers=dict(response.items()))
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    response.data = {"error": _first_message(detail), "fields": {}}
    return response

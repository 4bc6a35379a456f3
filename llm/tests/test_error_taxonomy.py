"""One error taxonomy: the same upstream failure gets the same category whichever way its call arrived
(groq_service through the real SDK, POST /api/ingest/, OTLP spans)."""

import json
import uuid

import pytest
from rest_framework.test import APIClient

from llm.calls.errors import ErrorType, classify_status
from llm.models import LLMRequestLog
from llm.services import LLMServiceError, groq_service
from llm.tests.ingestkit import bearer
from llm.tests.test_otlp import CURRENT, export, span

pytestmark = pytest.mark.django_db

EXPECTED = {
    400: ErrorType.BAD_REQUEST,
    401: ErrorType.AUTHENTICATION,
    403: ErrorType.PERMISSION,
    404: ErrorType.BAD_REQUEST,
    408: ErrorType.TIMEOUT,
    409: ErrorType.BAD_REQUEST,
    413: ErrorType.CONTEXT_LENGTH,
    422: ErrorType.BAD_REQUEST,
    429: ErrorType.RATE_LIMIT,
    500: ErrorType.SERVER_ERROR,
    502: ErrorType.SERVER_ERROR,
    503: ErrorType.SERVER_ERROR,
    504: ErrorType.TIMEOUT,
}


def through_groq_service(fake_groq, settings, *, status=None, failure=None) -> str:
    settings.GROQ_MAX_RETRIES = 0
    if status is not None:
        fake_groq.reply_error(status, "Upstream said no")
    elif failure == "timeout":
        settings.GROQ_TIMEOUT = 0.2
        fake_groq.reply_completion("late", delay=1.0)
    else:
        fake_groq.reply_drop()
    with pytest.raises(LLMServiceError) as caught:
        groq_service.complete(prompt="hi")
    stored = LLMRequestLog.objects.get(request_id=caught.value.request_id).error_type
    assert stored == caught.value.error_type
    return stored


def through_ingest(secret, **fields) -> str:
    request_id = str(uuid.uuid4())
    event = {"request_id": request_id, "model": "test/model", "status": "error", **fields}
    response = APIClient().post(
        "/api/ingest/", data=json.dumps({"events": [event]}), content_type="application/json", **bearer(secret)
    )
    assert response.json()["summary"]["accepted"] == 1, response.json()
    return LLMRequestLog.objects.get(request_id=request_id).error_type


def through_otlp(secret, **attributes) -> str:
    span_id = uuid.uuid4().hex[:16]
    body = export(span(span_id, {**CURRENT, **attributes}, status={"code": 2, "message": "Upstream said no"}))
    response = APIClient().post("/v1/traces", data=json.dumps(body), content_type="application/json", **bearer(secret))
    assert response["X-Spans-Stored"] == "1", response.content
    return LLMRequestLog.objects.get(span_id=span_id).error_type


@pytest.mark.parametrize("status", sorted(EXPECTED))
def test_it_classifies_an_http_status_the_same_from_every_source(fake_groq, settings, ingest_secret, status):
    assert classify_status(status) == EXPECTED[status]
    assert through_groq_service(fake_groq, settings, status=status) == EXPECTED[status]
    assert through_ingest(ingest_secret, http_status=status) == EXPECTED[status]
    assert through_otlp(ingest_secret, **{"http.response.status_code": status}) == EXPECTED[status]


@pytest.mark.parametrize(
    ("failure", "sdk_class", "expected"),
    [("timeout", "groq.APITimeoutError", ErrorType.TIMEOUT), ("drop", "groq.APIConnectionError", ErrorType.CONNECTION)],
)
def test_it_classifies_timeouts_and_dropped_connections_the_same_from_every_source(
    fake_groq, settings, ingest_secret, failure, sdk_class, expected
):
    # An app that logs through ingest or OTLP names the SDK's exception class it caught.
    assert through_groq_service(fake_groq, settings, failure=failure) == expected
    assert through_ingest(ingest_secret, error_type=sdk_class) == expected
    assert through_otlp(ingest_secret, **{"error.type": sdk_class}) == expected


def test_it_reads_a_context_length_error_from_the_providers_code_whatever_its_status(fake_groq, settings):
    settings.GROQ_MAX_RETRIES = 0
    fake_groq.reply_error(400, "Please reduce the length of the messages", code="context_length_exceeded")
    with pytest.raises(LLMServiceError) as caught:
        groq_service.complete(prompt="a very long prompt")
    assert caught.value.error_type == ErrorType.CONTEXT_LENGTH
    assert classify_status(None) == classify_status(200) == ErrorType.UNKNOWN
    assert classify_status(418) == ErrorType.BAD_REQUEST and classify_status(599) == ErrorType.SERVER_ERROR

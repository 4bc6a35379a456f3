"""POST /api/llm/prompt/: send a prompt to Groq through groq_service (so the call is logged)."""

import json
import math

from django.core.serializers.json import DjangoJSONEncoder
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from llm.api.serializers.errors import error_responses
from llm.api.serializers.prompt import (
    PROMPT_STREAM_EVENT,
    PromptErrorSerializer,
    PromptInputSerializer,
    PromptResultSerializer,
)
from llm.models import ErrorType, Source
from llm.sources.groq import LLMServiceError, groq_service

# Provider failures as HTTP statuses; anything else that went wrong upstream is a 502.
ERROR_STATUS = {ErrorType.RATE_LIMIT: 429, ErrorType.TIMEOUT: 504, ErrorType.CONFIGURATION: 503}


def _json_ready(result: dict) -> dict:
    cost = result.get("cost_estimate")
    # The cost as a 6-place string, like every other cost the API returns (null when unpriced).
    return {**result, "cost_estimate": None if cost is None else f"{cost:.6f}"}


def _error_body(error: LLMServiceError) -> dict:
    return {"error": error.message, "error_type": error.error_type, "request_id": error.request_id, "fields": {}}


def _sse(event: dict) -> str:
    return f"data: {json.dumps(event, cls=DjangoJSONEncoder)}\n\n"


def _events(stream):
    try:
        for text in stream:
            yield _sse({"type": "chunk", "text": text})
    except LLMServiceError as error:
        # The error body of a JSON answer; `message` repeats `error` for clients of the old event (deprecated).
        yield _sse({"type": "error", **_error_body(error), "message": error.message})
        return
    finally:
        stream.close()  # a client that went away mid-stream: the call is logged as cancelled
    yield _sse({"type": "done", **_json_ready(stream.result)})


class EventStreamRenderer(BaseRenderer):
    """Lets a client ask for `Accept: text/event-stream` alone.

    Streams are written by the view itself; this renderer only answers what is not a
    stream (a 400 for bad input, say) as one JSON body instead of a 406.
    """

    media_type = "text/event-stream"
    format = "sse"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data, cls=DjangoJSONEncoder).encode()


STREAM_DESCRIPTION = (
    'With "stream": true: server-sent events, each one `data:` line holding one PromptStreamEvent as JSON. '
    "chunk events carry the answer as it arrives; the last event is done (the result) or error (the error body)."
)
# Either body can answer 503. A PromptError body is also a valid Error, which oneOf would refuse.
UNAVAILABLE = {"anyOf": [{"$ref": "#/components/schemas/PromptError"}, {"$ref": "#/components/schemas/Error"}]}


class PromptView(APIView):
    """Send a prompt (or a chat) to Groq; the call is logged with source="api".

    JSON answer: the dict groq_service.complete() returns. With "stream": true, server-sent events:
    `{"type": "chunk", "text"}`... then `{"type": "done", ...result}` or `{"type": "error", ...error body}`.
    """

    renderer_classes = [JSONRenderer, EventStreamRenderer]

    @extend_schema(
        request=PromptInputSerializer,
        responses={
            (200, "application/json"): OpenApiResponse(PromptResultSerializer, description="The call's result."),
            (200, "text/event-stream"): OpenApiResponse(PROMPT_STREAM_EVENT, description=STREAM_DESCRIPTION),
            **error_responses(400, 401, 403, media_type="application/json"),
            (429, "application/json"): OpenApiResponse(
                PromptErrorSerializer, description="Rate limited (Retry-After when known)."
            ),
            (502, "application/json"): OpenApiResponse(PromptErrorSerializer, description="Upstream failure."),
            (503, "application/json"): OpenApiResponse(
                UNAVAILABLE,
                description=(
                    "Not configured (no GROQ_API_KEY): a PromptError with error_type configuration. "
                    "Or the database is unavailable: an Error; retry after the Retry-After seconds."
                ),
            ),
            (504, "application/json"): OpenApiResponse(PromptErrorSerializer, description="Upstream timeout."),
        },
    )
    def post(self, request):
        serializer = PromptInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        params = dict(serializer.validated_data)
        stream = params.pop("stream")
        params["model"] = params.get("model") or None
        # Calls from the dashboard belong to the signed-in user unless the body names one.
        params["user_id"] = params.get("user_id") or request.user.get_username()
        params["metadata"] = {"api_user": request.user.get_username()}
        if stream:
            response = StreamingHttpResponse(
                _events(groq_service.stream(source=Source.API, **params)), content_type="text/event-stream"
            )
            response["Cache-Control"] = "no-store"
            response["X-Accel-Buffering"] = "no"  # nginx would otherwise hold the events back
            return response
        try:
            result = groq_service.complete(source=Source.API, **params)
        except LLMServiceError as error:
            return self._error_response(error)
        return Response(_json_ready(result))

    @staticmethod
    def _error_response(error: LLMServiceError) -> Response:
        status = ERROR_STATUS.get(error.error_type, 502)
        headers = {}
        if status == 429 and error.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
        return Response(_error_body(error), status=status, headers=headers)

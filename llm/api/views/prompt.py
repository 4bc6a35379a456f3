"""POST /api/llm/prompt/: send a prompt to Groq through groq_service (so the call is logged)."""
import json
import math

from django.core.serializers.json import DjangoJSONEncoder
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from llm.models import ErrorType, Source
from llm.api.serializers.prompt import PromptErrorSerializer, PromptInputSerializer, PromptResultSerializer
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
        event = {"error_type": error.error_type, "message": error.message, "request_id": error.request_id}
        yield _sse({"type": "error", **event})
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


class PromptView(APIView):
    """Send a prompt (or a chat) to Groq; the call is logged with source="api".

    JSON answer: the dict groq_service.complete() returns. With "stream": true, server-sent events:
    `{"type": "chunk", "text"}`... then `{"type": "done", ...result}` or `{"type": "error", ...}`.
    """

    renderer_classes = [JSONRenderer, EventStreamRenderer]

    @extend_schema(
        request=PromptInputSerializer,
        responses={
            200: OpenApiResponse(
                PromptResultSerializer, description="The call's result (or text/event-stream with stream=true)"
            ),
            400: OpenApiResponse(description="Invalid input, naming the field"),
            429: OpenApiResponse(PromptErrorSerializer, description="Rate limited (Retry-After when known)"),
            502: OpenApiResponse(PromptErrorSerializer, description="Upstream failure"),
            503: OpenApiResponse(PromptErrorSerializer, description="Not configured (no GROQ_API_KEY)"),
            504: OpenApiResponse(PromptErrorSerializer, description="Upstream timeout"),
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

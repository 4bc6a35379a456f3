"""/api/schema/ and /api/docs/; every endpoint's real answers checked against the responses the schema
declares; and a bounded schemathesis run: generated requests never get a 5xx."""

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import schemathesis
from django.core import signals
from django.db import OperationalError, close_old_connections
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft4Validator, FormatChecker
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from rest_framework.test import APIClient

from core.wsgi import application
from llm.api.views.metrics import OverviewView
from llm.models import AlertLog, AlertRule, UserFeedback
from llm.sources.ingest import ingest_key_create
from llm.tests import tracekit

pytestmark = pytest.mark.django_db

# Per operation; enough to hit bad dates, odd enums and huge numbers without slowing the suite much.
EXAMPLES_PER_OPERATION = 25


def test_it_serves_an_openapi_schema_listing_every_endpoint(api_client):
    response = api_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {
        "/api/metrics/overview/",
        "/api/metrics/token-usage/",
        "/api/metrics/latency/",
        "/api/metrics/errors/",
        "/api/metrics/model-usage/",
        "/api/metrics/daily-stats/",
        "/api/logs/",
        "/api/logs/errors/",
        "/api/logs/{request_id}/",
        "/api/feedback/",
        "/api/feedback/analytics/",
        "/api/export/csv/",
        "/api/export/json/",
    } <= set(schema["paths"])
    group_by = next(
        p for p in schema["paths"]["/api/metrics/token-usage/"]["get"]["parameters"] if p["name"] == "group_by"
    )
    assert group_by["schema"]["enum"] == ["day", "hour", "minute", "month", "week"]


def test_it_serves_swagger_ui_from_local_static_files(alice_client):
    html = alice_client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    # The start-up script is a file of its own (the pages' CSP forbids inline scripts); it loads our schema.
    assert '<script src="/api/docs/?script=">' in html
    script = alice_client.get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()


# --- Every answer as declared ----------------------------------------------------------
#
# Each case makes one real request with data behind it and checks the answer against the response the
# schema declares for its status and media type. The schema is made strict for the check: every
# object lists all the fields it may carry (additionalProperties false), so a field an endpoint adds
# without declaring it fails here, as does a declared field that is missing or of another type.

FORMATS = FormatChecker(formats=())


@FORMATS.checks("uuid", raises=ValueError)
def _is_uuid(value) -> bool:
    return not isinstance(value, str) or bool(uuid.UUID(value))


@FORMATS.checks("date-time", raises=ValueError)
def _is_aware_datetime(value) -> bool:
    # ISO 8601 with its zone: the API never sends a naive time.
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


@FORMATS.checks("date", raises=ValueError)
def _is_date(value) -> bool:
    return not isinstance(value, str) or bool(date.fromisoformat(value))


@FORMATS.checks("uri")
def _is_absolute_url(value) -> bool:
    return not isinstance(value, str) or bool(urlsplit(value).scheme and urlsplit(value).netloc)


def strict(node):
    """An OpenAPI 3.0 schema as JSON Schema: `nullable` becomes a null alternative, objects are closed."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: strict(value) for key, value in node.items()}
    if "properties" in converted:
        converted.setdefault("additionalProperties", False)
    if converted.pop("nullable", False):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


class Conformance:
    """Checks answers against their declared responses."""

    def __init__(self, schema: dict):
        self.schema = schema
        self.components = strict(schema["components"])

    def declared(self, method: str, template: str, status: int) -> dict:
        responses = self.schema["paths"][template][method]["responses"]
        assert str(status) in responses, f"{method.upper()} {template} does not declare {status}"
        return responses[str(status)]

    def errors(self, schema: dict, value) -> list[str]:
        validator = Draft4Validator({**strict(schema), "components": self.components}, format_checker=FORMATS)
        return [f"{error.json_path}: {error.message}" for error in validator.iter_errors(value)]

    def check(self, method: str, template: str, status: int, response) -> None:
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert response.status_code == status, (method, template, response.status_code, body[:500])
        declared = self.declared(method, template, status)
        if status == 204:
            assert body == b"" and "content" not in declared
            return
        media_type = response["Content-Type"].split(";")[0].strip()
        assert media_type in declared.get("content", {}), f"{template} {status}: {media_type} is not declared"
        schema = declared["content"][media_type]["schema"]
        if media_type == "text/event-stream":
            events = [json.loads(line[len("data: ") :]) for line in body.decode().split("\n\n") if line]
            assert events, "an empty stream"
            problems = [problem for event in events for problem in self.errors(schema, event)]
        elif media_type == "text/csv":
            problems = self.errors(schema, body.decode())
        elif media_type == "application/x-protobuf":
            ExportTraceServiceResponse.FromString(body)
            problems = [] if schema.get("format") == "binary" else ["protobuf not declared as binary"]
        else:
            problems = self.errors(schema, json.loads(body))
        assert problems == [], f"{method.upper()} {template} {status}:\n" + "\n".join(problems)


class World:
    """Data behind every case: two calls (one failed, unpriced), feedback, an alert rule that fired, an ingest key."""

    def __init__(self, request, make_log, alice):
        now = timezone.now()
        self.call = make_log(
            timestamp=now - timedelta(hours=2),
            user_id="u-1",
            session_id="s-1",
            metadata={"plan": ["pro"]},
            time_to_first_token_ms=120.0,
            temperature=0.2,
            max_tokens=256,
            finish_reason="stop",
            source="api",
        )
        self.failed = make_log(
            timestamp=now - timedelta(hours=1),
            model_name="m-b",
            status="error",
            error_type="timeout",
            http_status=504,
            error_message="Timed out",
            cost_estimate=None,
            response_text="",
        )
        UserFeedback.objects.create(request=self.call, rating="thumbs_up", comment="Exactly right.")
        self.rule = AlertRule.objects.create(name="Errors", metric_type="error_rate", threshold=5.0)
        self.alert = AlertLog.objects.create(
            alert_rule=self.rule,
            message="Errors: 50%",
            metric_value=50.0,
            threshold=5.0,
            window_start=now - timedelta(minutes=15),
            window_end=now,
        )
        self.ingest_secret = ingest_key_create(name="checkout", created_by=alice)[1]
        self.request = request

    def groq(self):
        return self.request.getfixturevalue("fake_groq")

    def prompt(self, client, *, stream: bool = False, headers=None):
        return client.post("/api/llm/prompt/", {"prompt": "Hi", "stream": stream}, format="json", **(headers or {}))

    def prompt_failing(self, client, status: int, *, stream: bool = False):
        settings = self.request.getfixturevalue("settings")
        settings.GROQ_MAX_RETRIES = 0
        self.groq().reply_error(status, "Upstream said no", code="whatever")
        return self.prompt(client, stream=stream)

    def prompt_timing_out(self, client):
        settings = self.request.getfixturevalue("settings")
        settings.GROQ_TIMEOUT, settings.GROQ_MAX_RETRIES = 0.2, 0
        self.groq().reply_completion(delay=3)
        return self.prompt(client)

    def prompt_unconfigured(self, client):
        self.groq()
        self.request.getfixturevalue("settings").GROQ_API_KEY = ""
        return self.prompt(client)

    def database_down(self, client):
        def unavailable(**kwargs):
            raise OperationalError("connection refused")

        self.request.getfixturevalue("monkeypatch").setattr(OverviewView, "figure", staticmethod(unavailable))
        return client.get("/api/metrics/overview/")

    def csrf_refused(self):
        # A session (not a token) and no CSRF token: what a forged form post from another site looks like.
        client = APIClient(enforce_csrf_checks=True)
        client.login(username="alice", password="pw-alice-1")
        return client.post("/api/feedback/", {"request_id": str(self.call.request_id), "rating": "thumbs_up"})

    def ingest_too_many(self):
        self.request.getfixturevalue("settings").INGEST_MAX_EVENTS = 1
        return self.ingest({"events": [EVENT, EVENT]})

    def ingest(self, body, **headers):
        return APIClient().post(
            "/api/ingest/",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {self.ingest_secret}",
            **headers,
        )

    def otlp(self, path: str, *, protobuf: bool):
        start = int((timezone.now() - timedelta(minutes=1)).timestamp() * 1e9)
        span = {
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "00000000000000f1",
            "name": "chat m",
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start + 10**9),
            "attributes": [
                {"key": "gen_ai.request.model", "value": {"stringValue": "m"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"stringValue": "lots"}},
            ],
        }
        export = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
        if protobuf:
            body = json_format.Parse(json.dumps(export), ExportTraceServiceRequest()).SerializeToString()
            kind = "application/x-protobuf"
        else:
            body, kind = json.dumps(export), "application/json"
        return APIClient().post(path, body, content_type=kind, HTTP_AUTHORIZATION=f"Bearer {self.ingest_secret}")


RULE_BODY = {"name": "Slow", "metric_type": "latency", "comparison": "gt", "threshold": 2000, "time_window_minutes": 15}
EVENT = {"model": "m", "prompt_text": "Hi", "response_text": "Hello", "prompt_tokens": 3, "completion_tokens": 2}

CASES = [
    ("get", "/api/metrics/overview/", 200, lambda c, w: c.get("/api/metrics/overview/")),
    ("get", "/api/metrics/overview/", 200, lambda c, w: c.get("/api/metrics/overview/?model=absent")),
    ("get", "/api/metrics/overview/", 400, lambda c, w: c.get("/api/metrics/overview/?start_date=soon")),
    ("get", "/api/metrics/overview/", 401, lambda c, w: APIClient().get("/api/metrics/overview/")),
    ("get", "/api/metrics/overview/", 503, lambda c, w: w.database_down(c)),
    ("get", "/api/metrics/token-usage/", 200, lambda c, w: c.get("/api/metrics/token-usage/?group_by=hour")),
    ("get", "/api/metrics/latency/", 200, lambda c, w: c.get("/api/metrics/latency/")),
    ("get", "/api/metrics/latency/", 200, lambda c, w: c.get("/api/metrics/latency/?group_by=hour")),
    ("get", "/api/metrics/errors/", 200, lambda c, w: c.get("/api/metrics/errors/")),
    ("get", "/api/metrics/model-usage/", 200, lambda c, w: c.get("/api/metrics/model-usage/")),
    ("get", "/api/metrics/daily-stats/", 200, lambda c, w: c.get("/api/metrics/daily-stats/")),
    ("get", "/api/logs/", 200, lambda c, w: c.get("/api/logs/?page_size=1")),
    ("get", "/api/logs/", 200, lambda c, w: c.get("/api/logs/?page_size=1&page=2")),
    ("get", "/api/logs/errors/", 200, lambda c, w: c.get("/api/logs/errors/")),
    ("get", "/api/logs/{request_id}/", 200, lambda c, w: c.get(f"/api/logs/{w.call.request_id}/")),
    ("get", "/api/logs/{request_id}/", 200, lambda c, w: c.get(f"/api/logs/{w.failed.request_id}/")),
    ("get", "/api/logs/{request_id}/", 404, lambda c, w: c.get(f"/api/logs/{uuid.uuid4()}/")),
    ("get", "/api/feedback/", 200, lambda c, w: c.get("/api/feedback/")),
    (
        "post",
        "/api/feedback/",
        201,
        lambda c, w: c.post(
            "/api/feedback/", {"request_id": str(w.failed.request_id), "rating": "thumbs_down"}, format="json"
        ),
    ),
    ("post", "/api/feedback/", 400, lambda c, w: c.post("/api/feedback/", {"rating": "meh"}, format="json")),
    ("post", "/api/feedback/", 403, lambda c, w: w.csrf_refused()),
    ("get", "/api/feedback/analytics/", 200, lambda c, w: c.get("/api/feedback/analytics/?group_by=hour")),
    ("get", "/api/export/csv/", 200, lambda c, w: c.get("/api/export/csv/")),
    ("get", "/api/export/json/", 200, lambda c, w: c.get("/api/export/json/")),
    ("get", "/api/export/json/", 400, lambda c, w: c.get("/api/export/json/?ordering=secret")),
    ("get", "/api/alerts/rules/", 200, lambda c, w: c.get("/api/alerts/rules/")),
    ("post", "/api/alerts/rules/", 201, lambda c, w: c.post("/api/alerts/rules/", RULE_BODY, format="json")),
    ("post", "/api/alerts/rules/", 400, lambda c, w: c.post("/api/alerts/rules/", {}, format="json")),
    ("get", "/api/alerts/rules/{id}/", 200, lambda c, w: c.get(f"/api/alerts/rules/{w.rule.pk}/")),
    (
        "put",
        "/api/alerts/rules/{id}/",
        200,
        lambda c, w: c.put(f"/api/alerts/rules/{w.rule.pk}/", RULE_BODY, format="json"),
    ),
    (
        "patch",
        "/api/alerts/rules/{id}/",
        200,
        lambda c, w: c.patch(f"/api/alerts/rules/{w.rule.pk}/", {"is_active": False}, format="json"),
    ),
    ("delete", "/api/alerts/rules/{id}/", 204, lambda c, w: c.delete(f"/api/alerts/rules/{w.rule.pk}/")),
    ("get", "/api/alerts/rules/{id}/preview/", 200, lambda c, w: c.get(f"/api/alerts/rules/{w.rule.pk}/preview/")),
    ("post", "/api/alerts/rules/{id}/test/", 200, lambda c, w: c.post(f"/api/alerts/rules/{w.rule.pk}/test/")),
    ("get", "/api/alerts/logs/", 200, lambda c, w: c.get("/api/alerts/logs/")),
    (
        "post",
        "/api/alerts/logs/{id}/acknowledge/",
        200,
        lambda c, w: c.post(f"/api/alerts/logs/{w.alert.pk}/acknowledge/"),
    ),
    ("post", "/api/ingest/", 200, lambda c, w: w.ingest({"events": [EVENT, {**EVENT, "model": ""}]})),
    (
        "post",
        "/api/ingest/",
        415,
        lambda c, w: APIClient().post(
            "/api/ingest/", "x", content_type="text/plain", HTTP_AUTHORIZATION=f"Bearer {w.ingest_secret}"
        ),
    ),
    ("post", "/api/ingest/", 401, lambda c, w: APIClient().post("/api/ingest/", {"events": [EVENT]}, format="json")),
    ("post", "/api/ingest/", 413, lambda c, w: w.ingest_too_many()),
    ("post", "/api/otel/v1/traces", 200, lambda c, w: w.otlp("/api/otel/v1/traces", protobuf=False)),
    ("post", "/v1/traces", 200, lambda c, w: w.otlp("/v1/traces", protobuf=True)),
    ("post", "/api/llm/prompt/", 200, lambda c, w: w.groq().reply_completion("Hello") or w.prompt(c)),
    ("post", "/api/llm/prompt/", 200, lambda c, w: w.groq().reply_stream(["Hel", "lo"]) or w.prompt(c, stream=True)),
    ("post", "/api/llm/prompt/", 200, lambda c, w: w.prompt_failing(c, 500, stream=True)),
    ("post", "/api/llm/prompt/", 400, lambda c, w: c.post("/api/llm/prompt/", {"prompt": ""}, format="json")),
    ("post", "/api/llm/prompt/", 429, lambda c, w: w.prompt_failing(c, 429)),
    ("post", "/api/llm/prompt/", 502, lambda c, w: w.prompt_failing(c, 401)),
    ("post", "/api/llm/prompt/", 503, lambda c, w: w.prompt_unconfigured(c)),
    ("post", "/api/llm/prompt/", 504, lambda c, w: w.prompt_timing_out(c)),
    ("get", "/api/traces/", 200, lambda c, w: traced(w) and c.get("/api/traces/?page_size=1")),
    ("get", "/api/traces/", 400, lambda c, w: c.get("/api/traces/?ordering=cost")),
    ("get", "/api/traces/{trace_id}/", 200, lambda c, w: c.get(f"/api/traces/{traced(w)}/")),
    ("get", "/api/traces/{trace_id}/", 404, lambda c, w: c.get(f"/api/traces/{'0' * 32}/")),
    ("get", "/api/sessions/", 200, lambda c, w: c.get("/api/sessions/")),
    ("get", "/api/sessions/", 400, lambda c, w: c.get("/api/sessions/?ordering=nope")),
    ("get", "/api/sessions/{session_id}/", 200, lambda c, w: c.get("/api/sessions/s-1/")),
    ("get", "/api/sessions/{session_id}/", 404, lambda c, w: c.get("/api/sessions/nope/")),
    ("get", "/api/users/", 200, lambda c, w: c.get("/api/users/")),
    ("get", "/api/users/", 400, lambda c, w: c.get("/api/users/?ordering=nope")),
    ("get", "/api/users/{user_id}/", 200, lambda c, w: c.get("/api/users/u-1/")),
    ("get", "/api/users/{user_id}/", 404, lambda c, w: c.get("/api/users/nobody/")),
]


def traced(world) -> str:
    """The id of an agent run stored through OTLP (spans with a call, a failed tool), with a trace of calls alone."""
    trace_id = "7ace" * 8
    start = int((timezone.now() - timedelta(minutes=1)).timestamp()) * 10**9
    tracekit.post(world.ingest_secret, *tracekit.agent_run(trace_id, start, failing_tool=True))
    world.request.getfixturevalue("make_log")(trace_id="ca11" * 8, span_id="00000000000000c1", cost_estimate=None)
    return trace_id


@pytest.fixture(scope="module")
def openapi() -> dict:
    """The schema /api/schema/ serves, as JSON."""
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


@pytest.fixture
def world(request, make_log, alice):
    return World(request, make_log, alice)


@pytest.mark.parametrize("method, template, status, call", CASES, ids=[f"{m.upper()} {t} {s}" for m, t, s, _ in CASES])
def test_it_answers_as_the_schema_declares(openapi, world, alice_client, method, template, status, call):
    Conformance(openapi).check(method, template, status, call(alice_client, world))


def test_it_checks_every_operation_against_real_answers(openapi):
    operations = {(method, path) for path, item in openapi["paths"].items() for method in item}
    assert operations == {(method, template) for method, template, _, _ in CASES}


def _described(schema: dict, components: dict) -> bool:
    """Whether a response schema names its fields (not a bare "object"), through refs, lists and alternatives."""
    if "$ref" in schema:
        return _described(components[schema["$ref"].rsplit("/", 1)[1]], components)
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            return all(_described(part, components) for part in schema[key])
    if schema.get("type") == "array":
        return _described(schema["items"], components)
    if schema.get("type") == "object":
        return bool(schema.get("properties"))
    return schema.get("type") == "string"


def test_it_declares_the_fields_of_every_response(openapi):
    components = openapi["components"]["schemas"]
    bare = [
        f"{method.upper()} {path} {status} {media_type}"
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
        for status, response in operation["responses"].items()
        for media_type, content in response.get("content", {}).items()
        if not _described(content["schema"], components)
    ]
    assert bare == []


def test_it_marks_the_old_names_deprecated(openapi):
    components = openapi["components"]["schemas"]
    for name in ("LogList", "LogDetail", "ExportRow"):
        fields = components[name]["properties"]
        assert fields["model_name"].get("deprecated") is True, name
        assert "deprecated" not in fields["model"], name
    event = components["PromptErrorEvent"]["properties"]
    assert event["message"].get("deprecated") is True and "deprecated" not in event["error"]


@pytest.fixture
def keep_test_connection():
    """The real WSGI handler closes the connection after each request, which would end the
    test's transaction; Django's own test client detaches the same handler."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_it_answers_generated_requests_without_a_server_error(alice_token, make_log, keep_test_connection, fake_groq):
    # fake_groq: the prompt endpoint talks to a local Groq-compatible server, never the internet.
    log = make_log(timestamp=datetime(2024, 3, 11, tzinfo=UTC), status="error", error_type="timeout")
    make_log(timestamp=datetime(2024, 3, 12, tzinfo=UTC), model_name="m-b")
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    headers = {"Authorization": f"Token {alice_token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    failures, statuses = [], set()
    for operation in operations:
        path = {"request_id": str(log.request_id)} if "{request_id}" in operation.path else None

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(path_parameters=path))
        def check(case):
            response = case.call(headers=headers)
            statuses.add(response.status_code)
            if response.status_code >= 500:
                failures.append((case.operation.label, case.query, case.body, response.status_code))

        check()
    assert failures == []
    assert {200, 400} <= statuses  # the run reached real answers and real rejections

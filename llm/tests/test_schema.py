"""/api/schema/ and /api/docs/, and a bounded schemathesis run: generated requests never get a 5xx."""
from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from django.core import signals
from django.db import close_old_connections

from core.wsgi import application

pytestmark = pytest.mark.django_db

# Per operation; enough to hit bad dates, odd enums and huge numbers without slowing the suite much.
EXAMPLES_PER_OPERATION = 25


def test_it_serves_an_openapi_schema_listing_every_endpoint(api_client):
    response = api_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {
        "/api/metrics/overview/", "/api/metrics/token-usage/", "/api/metrics/latency/", "/api/metrics/errors/",
        "/api/metrics/model-usage/", "/api/metrics/daily-stats/", "/api/logs/", "/api/logs/errors/",
        "/api/logs/{request_id}/", "/api/feedback/", "/api/feedback/analytics/", "/api/export/csv/",
        "/api/export/json/",
    } <= set(schema["paths"])
    group_by = next(p for p in schema["paths"]["/api/metrics/token-usage/"]["get"]["parameters"]
                    if p["name"] == "group_by")
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

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(path_parameters=path))
        def check(case):
            response = case.call(headers=headers)
            statuses.add(response.status_code)
            if response.status_code >= 500:
                failures.append((operation.label, case.query, case.body, response.status_code))

        check()
    assert failures == []
    assert {200, 400} <= statuses  # the run reached real answers and real rejections

"""/api/alerts/...: rules CRUD with validation, test notification, backtest preview, alert list and acknowledge."""

from datetime import timedelta

import pytest
from django.core import mail
from rest_framework.test import APIClient

from llm.models import AlertLog, AlertRule, LLMRequestLog
from llm.tests.conftest import NOW

VALID_RULE = {
    "name": "Checkout errors",
    "metric_type": "error_rate",
    "comparison": "gte",
    "threshold": 2.5,
    "time_window_minutes": 30,
    "model_name": "openai/gpt-oss-20b",
    "min_requests": 20,
    "cooldown_minutes": 120,
    "email_recipients": "a@example.com; b@example.com",
    "webhook_url": "https://hooks.example.com/services/T0/B0/x",
}


@pytest.fixture
def rule(db):
    return AlertRule.objects.create(name="Errors", metric_type="error_rate", threshold=5.0)


@pytest.fixture
def bob_client(django_user_model):
    bob = django_user_model.objects.create_user(username="bob", password="pw-bob-1")
    client = APIClient()
    client.force_authenticate(bob)
    return client


def make_alert(rule, **fields):
    values = {
        "alert_rule": rule,
        "message": "Errors: high",
        "metric_value": 9.0,
        "threshold": rule.threshold,
        "triggered_at": NOW,
    }
    values.update(fields)
    return AlertLog.objects.create(**values)


# --- Authentication ------------------------------------------------------------------

ENDPOINTS = [
    ("get", "/api/alerts/rules/"),
    ("post", "/api/alerts/rules/"),
    ("get", "/api/alerts/rules/{rule}/"),
    ("put", "/api/alerts/rules/{rule}/"),
    ("patch", "/api/alerts/rules/{rule}/"),
    ("delete", "/api/alerts/rules/{rule}/"),
    ("post", "/api/alerts/rules/{rule}/test/"),
    ("get", "/api/alerts/rules/{rule}/preview/"),
    ("get", "/api/alerts/logs/"),
    ("post", "/api/alerts/logs/{alert}/acknowledge/"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_it_answers_401_json_to_anonymous_requests(api_client, rule, method, url):
    alert = make_alert(rule)

    response = getattr(api_client, method)(url.format(rule=rule.pk, alert=alert.pk), VALID_RULE, format="json")

    assert response.status_code == 401
    assert response.json() == {"error": "Authentication credentials were not provided.", "fields": {}}
    assert AlertRule.objects.get(pk=rule.pk).name == "Errors"
    assert AlertLog.objects.get(pk=alert.pk).acknowledged is False
    assert mail.outbox == []


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_it_refuses_a_wrong_token(api_client, rule, method, url):
    alert = make_alert(rule)
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = getattr(api_client, method)(url.format(rule=rule.pk, alert=alert.pk), VALID_RULE, format="json")

    assert response.status_code == 401
    assert response.json() == {"error": "Invalid token.", "fields": {}}
    assert AlertRule.objects.count() == 1


@pytest.mark.django_db
def test_it_accepts_a_token(api_client, alice_token, rule):
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {alice_token}")

    response = api_client.get("/api/alerts/rules/")

    assert response.status_code == 200
    assert [r["name"] for r in response.json()["results"]] == ["Errors"]


# --- Rules CRUD ----------------------------------------------------------------------


@pytest.mark.django_db
def test_it_lists_rules_with_every_field(alice_client, rule, django_assert_num_queries):
    AlertRule.objects.create(name="Another", metric_type="latency", threshold=3000)

    with django_assert_num_queries(1):  # the page (+1 row); a last page needs no count
        response = alice_client.get("/api/alerts/rules/")

    body = response.json()
    assert body["count"] == 2
    assert [r["name"] for r in body["results"]] == ["Another", "Errors"]
    errors = body["results"][1]
    assert errors == {
        "id": rule.pk,
        "name": "Errors",
        "description": "",
        "metric_type": "error_rate",
        "comparison": "gt",
        "threshold": 5.0,
        "time_window_minutes": 60,
        "model_name": "",
        "min_requests": 10,
        "cooldown_minutes": 60,
        "is_active": True,
        "notify_email": True,
        "email_recipients": "",
        "webhook_url": "",
        "state": "ok",
        "last_value": None,
        "last_evaluated_at": None,
        "created_at": errors["created_at"],
        "updated_at": errors["updated_at"],
    }


@pytest.mark.django_db
def test_it_creates_a_rule(alice_client):
    response = alice_client.post("/api/alerts/rules/", VALID_RULE, format="json")

    assert response.status_code == 201, response.json()
    rule = AlertRule.objects.get()
    assert response.json()["id"] == rule.pk
    assert (rule.comparison, rule.threshold, rule.time_window_minutes) == ("gte", 2.5, 30)
    assert (rule.model_name, rule.min_requests, rule.cooldown_minutes) == ("openai/gpt-oss-20b", 20, 120)
    assert rule.email_recipients == "a@example.com, b@example.com"
    assert rule.webhook_url == "https://hooks.example.com/services/T0/B0/x"
    assert rule.state == "ok"


@pytest.mark.django_db
def test_it_ignores_read_only_fields_on_create(alice_client):
    response = alice_client.post(
        "/api/alerts/rules/", {**VALID_RULE, "state": "firing", "last_value": 99}, format="json"
    )

    assert response.status_code == 201
    assert (response.json()["state"], response.json()["last_value"]) == ("ok", None)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"threshold": -1}, "threshold", "Ensure this value is greater than or equal to 0."),
        ({"threshold": "NaN"}, "threshold", "A valid number is required."),
        ({"threshold": "Infinity"}, "threshold", "A valid number is required."),
        ({"threshold": 100.5}, "threshold", "An error rate threshold is a percentage: 0 to 100."),
        ({"time_window_minutes": 0}, "time_window_minutes", "Ensure this value is greater than or equal to 1."),
        ({"time_window_minutes": 43201}, "time_window_minutes", "Ensure this value is less than or equal to 43200."),
        ({"webhook_url": "ftp://hooks.example.com/x"}, "webhook_url", "Must be an http:// or https:// URL."),
        ({"webhook_url": "javascript:alert(1)"}, "webhook_url", "Must be an http:// or https:// URL."),
        ({"email_recipients": "a@example.com, nope"}, "email_recipients", "'nope' is not an email address."),
        ({"metric_type": "cpu"}, "metric_type", '"cpu" is not a valid choice.'),
        ({"comparison": "eq"}, "comparison", '"eq" is not a valid choice.'),
        ({"name": ""}, "name", "This field may not be blank."),
        ({"name": "High\nlatency"}, "name", "Must be one line, without control characters."),
        ({"cooldown_minutes": -5}, "cooldown_minutes", "Ensure this value is greater than or equal to 0."),
    ],
)
def test_it_rejects_invalid_rules_naming_the_field(alice_client, changes, field, message):
    response = alice_client.post("/api/alerts/rules/", {**VALID_RULE, **changes}, format="json")

    assert response.status_code == 400
    assert response.json() == {"error": f"Invalid input: {field}", "fields": {field: message}}
    assert not AlertRule.objects.exists()


@pytest.mark.django_db
def test_it_allows_a_latency_threshold_above_100(alice_client):
    response = alice_client.post(
        "/api/alerts/rules/", {**VALID_RULE, "metric_type": "latency", "threshold": 5000}, format="json"
    )

    assert response.status_code == 201


@pytest.mark.django_db
def test_it_reads_one_rule(alice_client, rule):
    response = alice_client.get(f"/api/alerts/rules/{rule.pk}/")

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["name"]) == (rule.pk, "Errors")


@pytest.mark.django_db
def test_it_answers_404_json_for_an_unknown_rule(alice_client, rule):
    response = alice_client.get(f"/api/alerts/rules/{rule.pk + 1000}/")

    assert response.status_code == 404
    assert response.json() == {"error": "No AlertRule matches the given query.", "fields": {}}


@pytest.mark.django_db
def test_it_replaces_a_rule_with_put(alice_client, rule):
    response = alice_client.put(f"/api/alerts/rules/{rule.pk}/", VALID_RULE, format="json")

    assert response.status_code == 200
    rule.refresh_from_db()
    assert (rule.name, rule.threshold, rule.comparison) == ("Checkout errors", 2.5, "gte")


@pytest.mark.django_db
def test_it_patches_a_rule(alice_client, rule):
    response = alice_client.patch(f"/api/alerts/rules/{rule.pk}/", {"is_active": False}, format="json")

    assert response.status_code == 200
    rule.refresh_from_db()
    assert (rule.is_active, rule.name, rule.threshold) == (False, "Errors", 5.0)


@pytest.mark.django_db
def test_it_checks_a_patched_threshold_against_the_stored_metric_type(alice_client, rule):
    response = alice_client.patch(f"/api/alerts/rules/{rule.pk}/", {"threshold": 150}, format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {"threshold": "An error rate threshold is a percentage: 0 to 100."}
    assert AlertRule.objects.get(pk=rule.pk).threshold == 5.0


@pytest.mark.django_db
def test_it_deletes_a_rule_and_its_alerts(alice_client, rule):
    make_alert(rule)

    response = alice_client.delete(f"/api/alerts/rules/{rule.pk}/")

    assert response.status_code == 204
    assert not AlertRule.objects.exists()
    assert not AlertLog.objects.exists()


# --- Test notification and preview -----------------------------------------------------


@pytest.mark.django_db
def test_it_sends_a_test_notification(alice_client, rule, webhook_server):
    AlertRule.objects.filter(pk=rule.pk).update(webhook_url=webhook_server.url("/ok"), email_recipients="x@example.com")

    response = alice_client.post(f"/api/alerts/rules/{rule.pk}/test/")

    assert response.status_code == 200
    assert response.json() == {
        "delivered": True,
        "notification_error": "",
        "email_recipients": ["x@example.com"],
        "webhook_url": webhook_server.url("/ok"),
    }
    assert mail.outbox[0].subject.startswith("[TEST] Errors:")
    assert webhook_server.received[0]["json"]["event"] == "test"
    assert not AlertLog.objects.exists()


@pytest.mark.django_db
def test_it_reports_a_failed_test_notification(alice_client, rule, settings):
    settings.EMAIL_BACKEND = "llm.tests.webhooks.FailingEmailBackend"

    response = alice_client.post(f"/api/alerts/rules/{rule.pk}/test/")

    assert response.status_code == 200
    assert response.json()["delivered"] is False
    assert response.json()["notification_error"] == "email: SMTPException: Connection unexpectedly closed"


@pytest.mark.django_db
def test_it_previews_how_often_a_rule_would_have_fired(alice_client, rule, make_log, frozen):
    for _ in range(20):
        make_log(
            timestamp=NOW - timedelta(hours=3, minutes=30), status=LLMRequestLog.Status.ERROR, error_type="timeout"
        )

    response = alice_client.get(f"/api/alerts/rules/{rule.pk}/preview/?days=2")

    assert response.status_code == 200
    body = response.json()
    assert (body["rule"], body["days"], body["windows"]) == (rule.pk, 2, 48)
    assert (body["evaluated"], body["breached"], body["would_fire"], body["reminders"]) == (1, 1, 1, 0)
    assert body["fires"] == [
        {"window_start": "2026-03-02T08:00:00Z", "window_end": "2026-03-02T09:00:00Z", "value": 100.0}
    ]


@pytest.mark.django_db
def test_it_previews_seven_days_by_default(alice_client, rule, frozen):
    response = alice_client.get(f"/api/alerts/rules/{rule.pk}/preview/")

    assert (response.json()["days"], response.json()["windows"], response.json()["would_fire"]) == (7, 168, 0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("days", "message"),
    [
        ("0", "Must be a whole number from 1 to 30."),
        ("31", "Must be a whole number from 1 to 30."),
        ("week", "Must be a whole number from 1 to 30."),
    ],
)
def test_it_rejects_a_bad_preview_range(alice_client, rule, days, message):
    response = alice_client.get(f"/api/alerts/rules/{rule.pk}/preview/?days={days}")

    assert response.status_code == 400
    assert response.json() == {"error": "Invalid input: days", "fields": {"days": message}}


@pytest.mark.django_db
def test_it_answers_404_for_test_and_preview_of_an_unknown_rule(alice_client, rule):
    assert alice_client.post(f"/api/alerts/rules/{rule.pk + 1000}/test/").status_code == 404
    assert alice_client.get(f"/api/alerts/rules/{rule.pk + 1000}/preview/").status_code == 404
    assert mail.outbox == []


# --- Alert logs and acknowledgement --------------------------------------------------


@pytest.mark.django_db
def test_it_lists_alerts_newest_first(alice_client, rule, django_assert_num_queries):
    older = make_alert(rule, triggered_at=NOW - timedelta(hours=2), metric_value=7.0)
    newer = make_alert(rule, triggered_at=NOW, is_reminder=True)

    with django_assert_num_queries(1):  # the page with rule and user joined; a last page needs no count
        response = alice_client.get("/api/alerts/logs/")

    body = response.json()
    assert (body["count"], body["count_is_exact"]) == (2, True)
    assert [a["id"] for a in body["results"]] == [newer.pk, older.pk]
    first = body["results"][1]
    assert (first["rule_name"], first["metric_type"], first["metric_value"]) == ("Errors", "error_rate", 7.0)
    assert (first["acknowledged"], first["acknowledged_by"], first["is_reminder"]) == (False, None, False)
    assert first["triggered_at"] == "2026-03-02T10:00:00Z"


@pytest.mark.django_db
@pytest.mark.parametrize(("value", "expected"), [("true", ["acked"]), ("false", ["open"]), ("0", ["open"])])
def test_it_filters_alerts_by_acknowledged(alice_client, rule, alice, value, expected):
    make_alert(rule, message="open")
    make_alert(rule, message="acked", acknowledged=True, acknowledged_at=NOW, acknowledged_by=alice)

    response = alice_client.get(f"/api/alerts/logs/?acknowledged={value}")

    assert [a["message"] for a in response.json()["results"]] == expected


@pytest.mark.django_db
@pytest.mark.parametrize(("value", "expected"), [("false", ["open"]), ("true", ["resolved"])])
def test_it_filters_alerts_by_resolved(alice_client, rule, value, expected):
    make_alert(rule, message="open")
    make_alert(rule, message="resolved", resolved_at=NOW)

    response = alice_client.get(f"/api/alerts/logs/?resolved={value}")

    assert [a["message"] for a in response.json()["results"]] == expected


@pytest.mark.django_db
def test_it_filters_alerts_by_rule(alice_client, rule):
    other = AlertRule.objects.create(name="Other", metric_type="latency", threshold=1)
    make_alert(rule, message="mine")
    make_alert(other, message="theirs")

    response = alice_client.get(f"/api/alerts/logs/?rule={other.pk}")

    assert [a["message"] for a in response.json()["results"]] == ["theirs"]


@pytest.mark.django_db
def test_it_paginates_alerts(alice_client, rule):
    for minutes in range(5):
        make_alert(rule, triggered_at=NOW - timedelta(minutes=minutes))

    response = alice_client.get("/api/alerts/logs/?page=2&page_size=2")

    body = response.json()
    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert body["next"].endswith("/api/alerts/logs/?page=3&page_size=2")
    assert body["previous"].endswith("/api/alerts/logs/?page_size=2")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("acknowledged=maybe", "acknowledged", "Must be true or false."),
        ("resolved=never", "resolved", "Must be true or false."),
        ("page=9", "page", "Page out of range."),
        ("page=0", "page", "Must be a whole number from 1 to 1000000."),
        ("page_size=501", "page_size", "Must be a whole number from 1 to 500."),
        ("page_size=ten", "page_size", "Must be a whole number from 1 to 500."),
        ("rule=abc", "rule", "Must be a whole number of 1 or more."),
    ],
)
def test_it_rejects_bad_alert_filters(alice_client, rule, query, field, message):
    make_alert(rule)

    response = alice_client.get(f"/api/alerts/logs/?{query}")

    assert response.status_code == 400
    assert response.json() == {"error": f"Invalid input: {field}", "fields": {field: message}}


@pytest.mark.django_db
def test_it_acknowledges_an_alert_recording_who_and_when(alice_client, alice, rule, frozen):
    alert = make_alert(rule)

    response = alice_client.post(f"/api/alerts/logs/{alert.pk}/acknowledge/")

    assert response.status_code == 200
    body = response.json()
    assert (body["acknowledged"], body["acknowledged_by"], body["acknowledged_at"]) == (
        True,
        "alice",
        "2026-03-02T12:00:00Z",
    )
    alert.refresh_from_db()
    assert (alert.acknowledged, alert.acknowledged_by, alert.acknowledged_at) == (True, alice, NOW)


@pytest.mark.django_db
def test_it_keeps_the_first_acknowledgement(alice_client, bob_client, alice, rule, frozen):
    alert = make_alert(rule)
    alice_client.post(f"/api/alerts/logs/{alert.pk}/acknowledge/")

    frozen.shift(timedelta(minutes=10))
    response = bob_client.post(f"/api/alerts/logs/{alert.pk}/acknowledge/")

    assert response.status_code == 200
    assert (response.json()["acknowledged_by"], response.json()["acknowledged_at"]) == ("alice", "2026-03-02T12:00:00Z")
    alert.refresh_from_db()
    assert (alert.acknowledged_by, alert.acknowledged_at) == (alice, NOW)


@pytest.mark.django_db
def test_it_answers_404_when_acknowledging_an_unknown_alert(alice_client, rule):
    alert = make_alert(rule)

    response = alice_client.post(f"/api/alerts/logs/{alert.pk + 1000}/acknowledge/")

    assert response.status_code == 404
    assert response.json() == {"error": "No alert has this id.", "fields": {}}
    assert AlertLog.objects.get().acknowledged is False


@pytest.mark.django_db
def test_it_refuses_an_id_no_database_can_hold(alice_client):
    response = alice_client.get("/api/alerts/logs/", {"rule": str(2**91)})  # found by the schema fuzzer: a 500
    assert response.status_code == 400
    assert response.json()["fields"] == {"rule": "Must be a whole number from 1 to 9223372036854775807."}

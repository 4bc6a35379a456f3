"""POST/GET /api/feedback/ and GET /api/feedback/analytics/."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from llm.models import UserFeedback

pytestmark = pytest.mark.django_db

DAY = datetime(2024, 3, 11, 9, tzinfo=UTC)


@pytest.fixture
def rated(make_log):
    a = make_log(model_name="m-a")
    b = make_log(model_name="m-b")
    for log, rating, offset in [
        (a, "thumbs_up", 0),
        (a, "thumbs_up", 0),
        (a, "thumbs_down", 1),
        (b, "thumbs_down", 2),
        (b, "thumbs_up", 2),
    ]:
        UserFeedback.objects.create(request=log, rating=rating, created_at=DAY + timedelta(days=offset))
    return a, b


@pytest.mark.parametrize("url", ["/api/feedback/", "/api/feedback/analytics/"])
def test_it_requires_authentication(api_client, url):
    assert api_client.get(url).status_code == 401
    assert api_client.post("/api/feedback/", {}, format="json").status_code == 401


def test_it_rejects_a_wrong_token(api_client, make_log):
    api_client.credentials(HTTP_AUTHORIZATION="Token wrong")
    response = api_client.post(
        "/api/feedback/", {"request_id": str(make_log().request_id), "rating": "thumbs_up"}, format="json"
    )
    assert response.status_code == 401
    assert UserFeedback.objects.count() == 0


def test_it_records_feedback(alice_client, make_log):
    log = make_log(model_name="m-a")
    response = alice_client.post(
        "/api/feedback/",
        {"request_id": str(log.request_id), "rating": "thumbs_down", "comment": "Wrong answer"},
        format="json",
    )
    assert response.status_code == 201
    saved = UserFeedback.objects.get()
    assert (saved.request_id, saved.rating, saved.comment) == (log.id, "thumbs_down", "Wrong answer")
    assert response.json()["request_id"] == str(log.request_id) and response.json()["model"] == "m-a"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"request_id": str(uuid.uuid4()), "rating": "thumbs_up"}, "request_id"),
        ({"request_id": "nope", "rating": "thumbs_up"}, "request_id"),
        ({"request_id": None, "rating": "thumbs_up"}, "request_id"),
        ({"rating": "meh"}, "rating"),
    ],
)
def test_it_rejects_bad_feedback_naming_the_field(alice_client, make_log, body, field):
    body = {"request_id": str(make_log().request_id), **body}
    body = {name: value for name, value in body.items() if value is not None}  # None: leave the field out
    response = alice_client.post("/api/feedback/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert UserFeedback.objects.count() == 0


def test_it_lists_feedback_newest_first_with_filters(alice_client, rated):
    body = alice_client.get("/api/feedback/").json()
    assert body["count"] == 5
    assert [r["created_at"][:10] for r in body["results"]] == [
        "2024-03-13",
        "2024-03-13",
        "2024-03-12",
        "2024-03-11",
        "2024-03-11",
    ]
    ups = alice_client.get("/api/feedback/?rating=thumbs_up&model=m-a").json()["results"]
    assert [(r["rating"], r["model"]) for r in ups] == [("thumbs_up", "m-a")] * 2
    dated = alice_client.get("/api/feedback/?start_date=2024-03-12&end_date=2024-03-12").json()
    assert [r["rating"] for r in dated["results"]] == ["thumbs_down"]
    refused = alice_client.get("/api/feedback/?rating=meh").json()
    assert refused["fields"] == {"rating": "Must be one of: thumbs_up, thumbs_down."}


def test_it_serves_deep_feedback_pages_like_shallow_ones(alice_client, rated, monkeypatch):
    every = [(r["id"], r["model"]) for r in alice_client.get("/api/feedback/").json()["results"]]
    monkeypatch.setattr("llm.api.pagination.DEFERRED_FROM", 2)  # pages from offset 2 read their keys first
    deep = alice_client.get("/api/feedback/?page_size=2&page=2").json()
    assert [(r["id"], r["model"]) for r in deep["results"]] == every[2:4]
    assert "page=3" in deep["next"]


def test_it_computes_analytics(alice_client, rated, django_assert_max_num_queries):
    alice_client.get("/api/feedback/analytics/?start_date=2024-03-01")
    with django_assert_max_num_queries(3):
        body = alice_client.get("/api/feedback/analytics/").json()
    assert (body["total"], body["thumbs_up"], body["thumbs_down"], body["satisfaction_rate"]) == (5, 3, 2, 60.0)
    assert body["by_model"] == [
        {"model": "m-a", "total": 3, "thumbs_up": 2, "thumbs_down": 1, "satisfaction_rate": 66.67},
        {"model": "m-b", "total": 2, "thumbs_up": 1, "thumbs_down": 1, "satisfaction_rate": 50.0},
    ]
    assert [(p["period"], p["total"], p["satisfaction_rate"]) for p in body["over_time"]] == [
        ("2024-03-11T00:00:00Z", 2, 100.0),
        ("2024-03-12T00:00:00Z", 1, 0.0),
        ("2024-03-13T00:00:00Z", 2, 50.0),
    ]


def test_it_zero_fills_analytics_and_uses_null_without_feedback(alice_client, rated):
    body = alice_client.get("/api/feedback/analytics/?start_date=2024-03-14&end_date=2024-03-15").json()
    assert (body["total"], body["satisfaction_rate"], body["by_model"]) == (0, None, [])
    assert body["over_time"] == [
        {"period": f"2024-03-{d}T00:00:00Z", "total": 0, "thumbs_up": 0, "thumbs_down": 0, "satisfaction_rate": None}
        for d in (14, 15)
    ]
    assert alice_client.get("/api/feedback/analytics/?group_by=decade").status_code == 400

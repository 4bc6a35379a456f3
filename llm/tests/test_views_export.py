"""GET /api/export/csv/ and /api/export/json/: streamed, complete, filtered, formula-safe."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from llm.api.serializers.export import ExportRowSerializer

pytestmark = pytest.mark.django_db


def _body(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


@pytest.mark.parametrize("url", ["/api/export/csv/", "/api/export/json/"])
def test_it_requires_authentication(api_client, url):
    response = api_client.get(url)
    assert response.status_code == 401
    assert response.json()["error"] == "Authentication credentials were not provided."


@pytest.mark.parametrize("url", ["/api/export/csv/", "/api/export/json/"])
def test_it_rejects_a_wrong_token(api_client, url):
    api_client.credentials(HTTP_AUTHORIZATION="Token wrong")
    assert api_client.get(url).status_code == 401


@time_machine.travel(datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC), tick=False)
def test_it_streams_csv_with_full_texts_and_a_dated_name(alice_client, make_log):
    old = make_log(
        timestamp=datetime(2024, 5, 1, tzinfo=UTC),
        prompt_text='line1\nline2, "quoted"',
        response_text="x" * 5000,
        metadata={"k": 1},
        cost_estimate=Decimal("0.123456"),
    )
    make_log(timestamp=datetime(2024, 5, 2, tzinfo=UTC), cost_estimate=None)
    response = alice_client.get("/api/export/csv/")
    assert response["Content-Disposition"] == 'attachment; filename="llm-logs-20240506-070809.csv"'
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(_body(response))))
    assert len(rows) == 2
    first = rows[0]
    assert first["request_id"] == str(old.request_id)
    assert first["timestamp"] == "2024-05-01T00:00:00Z"
    assert first["prompt_text"] == 'line1\nline2, "quoted"'
    assert first["response_text"] == "x" * 5000
    assert (first["cost_estimate"], rows[1]["cost_estimate"]) == ("0.123456", "")
    assert json.loads(first["metadata"]) == {"k": 1}


@pytest.mark.parametrize("cost", ["0", "0.000001", "0.000023", "0.999999", "12345.678901"])
def test_it_writes_costs_with_six_places_as_stored(alice_client, make_log, cost):
    make_log(cost_estimate=Decimal(cost))
    rows = list(csv.DictReader(io.StringIO(_body(alice_client.get("/api/export/csv/")))))
    assert rows[0]["cost_estimate"] == f"{Decimal(cost):.6f}"


def test_it_neutralises_formulas_in_csv(alice_client, make_log):
    make_log(
        prompt_text='=HYPERLINK("http://evil")',
        response_text="+1+1",
        user_id="@admin",
        session_id="-2",
        error_message="\tcmd",
        model_name="safe",
    )
    row = next(csv.DictReader(io.StringIO(_body(alice_client.get("/api/export/csv/")))))
    assert (row["prompt_text"], row["response_text"], row["user_id"], row["session_id"], row["error_message"]) == (
        '\'=HYPERLINK("http://evil")',
        "'+1+1",
        "'@admin",
        "'-2",
        "'\tcmd",
    )
    assert row["model_name"] == "safe"


def test_it_streams_one_valid_json_array_filtered(alice_client, make_log):
    base = datetime(2024, 5, 1, tzinfo=UTC)
    logs = [
        make_log(
            timestamp=base + timedelta(minutes=i),
            model_name="m-a" if i % 2 else "m-b",
            prompt_text=f"p{i}",
            metadata={"i": i, "tags": ["x"]},
        )
        for i in range(1203)
    ]
    body = json.loads(_body(alice_client.get("/api/export/json/?model=m-a")))
    expected = [log for log in logs if log.model_name == "m-a"]
    assert [r["request_id"] for r in body] == [str(log.request_id) for log in expected]
    first = body[0]
    assert (first["prompt_text"], first["cost_estimate"]) == ("p1", 0.000023)
    assert first["timestamp"] == "2024-05-01T00:01:00Z"
    assert first["metadata"] == {"i": 1, "tags": ["x"]}
    assert body[-1]["metadata"] == {"i": 1201, "tags": ["x"]}
    assert json.loads(_body(alice_client.get("/api/export/json/?model=absent"))) == []


def test_it_names_the_columns_as_the_schema_does_with_model_name_last(alice_client, make_log):
    make_log(model_name="m-a")
    columns = list(ExportRowSerializer().fields)
    assert columns[2] == "model" and columns[-1] == "model_name"
    reader = csv.DictReader(io.StringIO(_body(alice_client.get("/api/export/csv/"))))
    row = next(reader)
    assert reader.fieldnames == columns
    assert row["model"] == row["model_name"] == "m-a"
    (item,) = json.loads(_body(alice_client.get("/api/export/json/")))
    assert list(item) == columns
    assert item["model"] == item["model_name"] == "m-a"


def test_it_rejects_bad_filters_before_streaming(alice_client):
    response = alice_client.get("/api/export/csv/?start_date=bad", HTTP_ACCEPT="text/csv")
    assert response.status_code == 400
    assert json.loads(response.content)["fields"] == {
        "start_date": "Enter an ISO 8601 date or datetime, e.g. 2024-01-31 or 2024-01-31T12:00:00Z."
    }

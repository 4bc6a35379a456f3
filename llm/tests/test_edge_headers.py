"""Site-wide response rules (core/middleware.py): a readable 503 while the database is down,
Cache-Control: no-store on the API, and a same-origin Content-Security-Policy on the pages."""

import pytest
from django.db import OperationalError, connection

pytestmark = pytest.mark.django_db

PAGES = ["/", "/analytics/", "/logs/", "/feedback/", "/alerts/", "/playground/"]


def database_down(execute, sql, params, many, context):
    raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("url", PAGES)
def test_it_answers_a_readable_503_page_while_the_database_is_down(client, alice, settings, url, debug):
    settings.DEBUG = debug  # `make run` serves with DEBUG on, where Django would show a traceback page
    client.force_login(alice)
    with connection.execute_wrapper(database_down):
        response = client.get(url)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    body = response.content.decode()
    assert "The dashboard cannot reach its database" in body
    assert "Traceback" not in body and "OperationalError" not in body and "5432" not in body


def test_it_answers_503_on_the_login_form_while_the_database_is_down(client):
    with connection.execute_wrapper(database_down):
        response = client.post("/login/", {"username": "alice", "password": "pw-alice-1"})
    assert response.status_code == 503
    assert "cannot reach its database" in response.content.decode()


def test_it_answers_json_503_for_the_api_even_before_a_view_runs(client, alice):
    client.force_login(alice)  # session authentication reads the user inside the view
    with connection.execute_wrapper(database_down):
        response = client.get("/api/metrics/overview/")
    assert response.status_code == 503
    assert response.json() == {"error": "The database is unavailable; retry later.", "fields": {}}
    assert response["Retry-After"] == "5"


def test_it_logs_the_outage_in_one_line_without_a_traceback(client, alice, caplog):
    client.force_login(alice)
    with connection.execute_wrapper(database_down):
        client.get("/logs/")
    records = [r for r in caplog.records if r.name == "core.middleware"]
    assert [r.getMessage() for r in records] == [
        'Database unavailable during /logs/: connection to server at "127.0.0.1", port 5432 failed: Connection refused'
    ]
    assert records[0].exc_info is None


@pytest.mark.parametrize(
    "url", ["/api/logs/", "/api/logs/errors/", "/api/metrics/overview/", "/api/export/csv/", "/api/export/json/"]
)
def test_it_forbids_caches_to_store_api_responses(alice_client, make_log, url):
    make_log(prompt_text="the customer's secret question")
    response = alice_client.get(url)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


def test_it_forbids_caches_to_store_api_errors_too(api_client):
    response = api_client.get("/api/logs/")
    assert response.status_code == 401
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("url", PAGES + ["/login/", "/admin/login/", "/api/docs/"])
def test_it_sends_a_same_origin_content_security_policy_on_pages(client, alice, url):
    if not url.endswith("login/"):
        client.force_login(alice)
    response = client.get(url)
    assert response.status_code == 200
    policy = dict(part.split(" ", 1) for part in response["Content-Security-Policy"].split("; "))
    assert policy["default-src"] == "'self'"
    for directive in ("script-src", "style-src", "connect-src"):
        assert policy[directive] == "'self'", directive
    assert policy["img-src"] == "'self' data:"
    assert policy["frame-ancestors"] == "'none'"


@pytest.mark.parametrize("url", PAGES + ["/login/", "/api/docs/"])
def test_it_keeps_every_script_of_a_page_in_a_file(client, alice, url):
    """The policy allows no inline script, so a page that had one would be broken in the browser."""
    import re

    if url != "/login/":
        client.force_login(alice)
    body = client.get(url).content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", body, flags=re.S)
    for attributes, code in scripts:
        assert "src=" in attributes or 'type="application/json"' in attributes, attributes
        assert code.strip() == "" or 'type="application/json"' in attributes
    assert not re.search(r"\son[a-z]+=", body), "inline event handler"


def test_it_leaves_static_files_cacheable(client):
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")

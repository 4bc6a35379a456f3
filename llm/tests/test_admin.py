"""The admin lists every model, logged in; anonymous users are sent to its login."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from llm.admin import CappedCount, CappedCountPaginator
from llm.models import AlertLog, AlertRule, LLMRequestLog, UserFeedback

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "/admin/llm/llmrequestlog/",
    "/admin/llm/userfeedback/",
    "/admin/llm/modelprice/",
    "/admin/llm/alertrule/",
    "/admin/llm/alertlog/",
    "/admin/llm/ingestkey/",
]


@pytest.mark.parametrize("url", CHANGELISTS)
def test_it_redirects_anonymous_users_to_the_admin_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_it_refuses_non_staff_users(client, alice):
    client.force_login(alice)
    response = client.get("/admin/llm/llmrequestlog/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("url", CHANGELISTS)
def test_it_lists_each_model_for_an_admin(client, admin_user, make_log, url):
    log = make_log(user_id="user-42", model_name="qwen/qwen3-32b")
    UserFeedback.objects.create(request=log, rating="thumbs_up", comment="great")
    rule = AlertRule.objects.create(name="Errors high", metric_type="error_rate", threshold=5)
    AlertLog.objects.create(alert_rule=rule, message="Error rate 9%", metric_value=9)
    client.force_login(admin_user)
    response = client.get(url)
    assert response.status_code == 200
    assert b"Select" in response.content


def test_it_lists_logs_without_reading_their_texts(client, admin_user, make_log):
    make_log(user_id="user-42", prompt_text="SECRET PROMPT BODY")
    client.force_login(admin_user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/admin/llm/llmrequestlog/")
    assert b"user-42" in response.content
    log_selects = [q["sql"] for q in queries if 'FROM "llm_llmrequestlog"' in q["sql"]]
    assert log_selects
    assert not [sql for sql in log_selects if "prompt_text" in sql or "response_text" in sql]


def test_it_searches_logs_by_user(client, admin_user, make_log):
    make_log(user_id="user-42")
    make_log(user_id="user-7")
    client.force_login(admin_user)
    response = client.get("/admin/llm/llmrequestlog/", {"q": "user-7"})
    assert b"user-7" in response.content
    assert b"user-42" not in response.content


def test_it_keeps_request_logs_read_only(client, admin_user, make_log):
    log = make_log()
    client.force_login(admin_user)
    assert client.get("/admin/llm/llmrequestlog/add/").status_code == 403
    response = client.post(f"/admin/llm/llmrequestlog/{log.pk}/change/", {"model_name": "changed"})
    assert response.status_code == 403
    log.refresh_from_db()
    assert log.model_name == "openai/gpt-oss-20b"


def test_it_caps_the_log_count_instead_of_counting_the_whole_table(make_log, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "CAP", 3)
    for _ in range(5):
        make_log()

    paginator = CappedCountPaginator(LLMRequestLog.objects.all(), 2)

    assert paginator.count == 3
    assert paginator.num_pages == 2
    assert str(paginator.count) == "3+"


def test_it_counts_exactly_up_to_the_cap(make_log, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "CAP", 3)
    for _ in range(3):
        make_log()

    assert str(CappedCountPaginator(LLMRequestLog.objects.all(), 2).count) == "3"


def test_it_writes_a_capped_count_with_a_thousands_separator_and_a_plus():
    assert str(CappedCount(10_000)) == "10,000+"
    assert CappedCount(10_000) == 10_000


def test_it_shows_a_capped_count_as_a_lower_bound_in_the_log_list(client, admin_user, make_log, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "CAP", 3)
    for _ in range(5):
        make_log(user_id="user-42")
    client.force_login(admin_user)

    listing = client.get("/admin/llm/llmrequestlog/").content.decode()
    searched = client.get("/admin/llm/llmrequestlog/", {"q": "user-42"}).content.decode()

    assert re.search(r"3\+\s+LLM request logs", listing)
    assert "3 LLM request logs" not in listing
    assert "3+ results" in searched


def test_it_creates_an_ingest_key_in_the_admin_and_shows_its_secret_once(client, admin_user):
    from llm.models import IngestKey
    from llm.sources.ingest import ingest_key_find

    client.force_login(admin_user)
    response = client.post("/admin/llm/ingestkey/add/", {"name": "billing-service"}, follow=True)
    assert response.status_code == 200
    key = IngestKey.objects.get(name="billing-service")
    shown = [str(m) for m in response.context["messages"]]
    secret = shown[0].rsplit(" ", 1)[-1]
    assert secret.startswith(key.prefix)
    assert ingest_key_find(secret=secret) == key
    # Never in a cookie: messages are kept in the session.
    assert all(secret not in morsel.value for morsel in response.cookies.values())
    assert all(secret not in morsel.value for morsel in client.cookies.values())
    assert key.created_by == admin_user
    assert secret not in key.key_hash
    # The change page shows the prefix, never the secret.
    page = client.get(f"/admin/llm/ingestkey/{key.pk}/change/")
    assert key.prefix.encode() in page.content
    assert secret.encode() not in page.content


def test_it_revokes_ingest_keys_from_the_admin(client, admin_user):
    from llm.sources.ingest import ingest_key_create

    key, _ = ingest_key_create(name="old")
    client.force_login(admin_user)
    client.post("/admin/llm/ingestkey/", {"action": "revoke", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is not None

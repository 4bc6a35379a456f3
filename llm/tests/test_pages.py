"""The dashboard pages: behind login, login/logout, banners, and 404 for an unknown call."""

import re
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from llm.models import AlertRule

pytestmark = pytest.mark.django_db

PAGES = ["/", "/analytics/", "/logs/", "/traces/", "/sessions/", "/users/", "/feedback/", "/alerts/", "/playground/"]


@pytest.mark.parametrize("url", PAGES)
def test_it_redirects_anonymous_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"


@pytest.mark.parametrize("url", PAGES)
def test_it_renders_each_page_for_a_user(client, alice, url):
    client.force_login(alice)
    response = client.get(url)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'href="/static/css/app.css"' in body
    assert 'data-api-root="/api/"' in body
    # Offline: nothing is loaded from another host.
    assert "https://" not in body and "http://" not in body


@pytest.mark.parametrize(("url", "label"), [("/traces/", "Traces"), ("/sessions/", "Sessions"), ("/users/", "Users")])
def test_it_links_every_page_in_the_navigation_and_marks_the_current_one(client, alice, url, label):
    client.force_login(alice)
    body = client.get("/").content.decode()
    assert f'href="{url}" >{label}</a>' in body
    current = client.get(url).content.decode()
    assert f'href="{url}" aria-current="page">{label}</a>' in current


def test_it_logs_in_and_out(client, alice):
    response = client.post("/login/", {"username": "alice", "password": "pw-alice-1"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    # Logout is POST only, so a link or a prefetch cannot end the session.
    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert response["Location"] == "/login/"
    assert client.get("/").status_code == 302


def test_it_shows_the_login_error(client, alice):
    response = client.post("/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_it_links_the_admin_for_staff_only(client, alice, admin_user):
    client.force_login(alice)
    assert 'href="/admin/"' not in client.get("/").content.decode()
    client.force_login(admin_user)
    assert 'href="/admin/"' in client.get("/").content.decode()


def test_it_shows_a_banner_while_an_alert_is_firing(client, alice):
    client.force_login(alice)
    assert 'data-banner="alerts"' not in client.get("/").content.decode()
    AlertRule.objects.create(name="Errors <b>high</b>", metric_type="error_rate", threshold=5, state="firing")
    body = client.get("/").content.decode()
    assert 'data-banner="alerts"' in body
    assert "Errors &lt;b&gt;high&lt;/b&gt;" in body


def test_it_renders_the_detail_of_a_logged_call(client, alice, make_log):
    log = make_log()
    client.force_login(alice)
    response = client.get(f"/logs/{log.request_id}/")
    assert response.status_code == 200
    assert f'data-request-id="{log.request_id}"' in response.content.decode()


def test_it_answers_404_for_an_unknown_or_malformed_call(client, alice):
    client.force_login(alice)
    assert client.get(f"/logs/{uuid.uuid4()}/").status_code == 404
    assert client.get("/logs/not-a-uuid/").status_code == 404


def test_it_offers_priced_models_in_the_playground(client, alice):
    client.force_login(alice)
    body = client.get("/playground/").content.decode()
    assert '<option value="openai/gpt-oss-20b" selected>' in body


def test_it_shows_a_banner_while_calls_wait_in_the_spool(client, alice, settings):
    client.force_login(alice)
    assert 'data-banner="spool"' not in client.get("/").content.decode()
    spool = settings.LLM_SPOOL_PATH
    spool.parent.mkdir(parents=True, exist_ok=True)
    spool.write_text('{"request_id": "a"}\n{"request_id": "b"}\n')
    body = client.get("/").content.decode()
    assert 'data-banner="spool"' in body
    assert "2 calls could not be saved" in body


def test_it_explains_how_to_set_the_groq_key_when_it_is_missing(client, alice, settings):
    client.force_login(alice)
    assert 'id="no-key"' not in client.get("/playground/").content.decode()
    settings.GROQ_API_KEY = ""
    body = client.get("/playground/").content.decode()
    assert 'id="no-key"' in body
    assert "GROQ_API_KEY=gsk_" in body


def _checks_notice(client) -> str | None:
    """The alerts page's "checks have not run" notice as plain text, or None when it is absent."""
    body = client.get("/alerts/").content.decode()
    found = re.search(r'<div role="alert"[^>]*data-notice="alert-checks">(.*?)</div>', body, re.S)
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split()) if found else None


def test_it_says_when_alert_checks_have_never_run(client, alice):
    client.force_login(alice)
    assert _checks_notice(client) is None  # no rule: nothing to check
    AlertRule.objects.create(name="Off", metric_type="error_rate", threshold=5, is_active=False)
    assert _checks_notice(client) is None  # no active rule either
    AlertRule.objects.create(name="Errors", metric_type="error_rate", threshold=5)
    assert _checks_notice(client) == (
        "Alert checks have never run, so no rule can fire. Run python manage.py check_alerts --loop --interval 60, "
        "or schedule python manage.py check_alerts with cron (e.g. every 15 minutes)."
    )


@time_machine.travel("2024-06-11T12:00:00Z", tick=False)
def test_it_says_how_long_alert_checks_have_not_run(client, alice):
    client.force_login(alice)
    now = timezone.now()
    AlertRule.objects.create(
        name="Errors", metric_type="error_rate", threshold=5, last_evaluated_at=now - timedelta(hours=3)
    )
    # The latest check of any active rule counts; an inactive rule's is ignored.
    AlertRule.objects.create(
        name="Slow", metric_type="latency", threshold=5000, last_evaluated_at=now - timedelta(minutes=47)
    )
    AlertRule.objects.create(
        name="Off", metric_type="latency", threshold=5000, is_active=False, last_evaluated_at=now - timedelta(minutes=1)
    )
    notice = _checks_notice(client)
    assert notice.startswith(
        "Alert checks have not run in the last 47 minutes (last check 2024-06-11 11:13 UTC), so no rule can fire."
    )
    assert '<time datetime="2024-06-11T11:13:00+00:00" data-local-time>' in client.get("/alerts/").content.decode()

    AlertRule.objects.filter(name="Slow").update(last_evaluated_at=now - timedelta(minutes=29))
    assert _checks_notice(client) is None


def test_it_counts_the_alerts_page_queries(client, alice, django_assert_num_queries):
    AlertRule.objects.create(name="Errors", metric_type="error_rate", threshold=5)
    client.force_login(alice)
    client.get("/alerts/")
    # Session and user, the firing-alerts banner, priced models, and one aggregate for the checks notice.
    with django_assert_num_queries(5):
        assert "data-notice" in client.get("/alerts/").content.decode()


@pytest.mark.parametrize(
    "path, marker",
    [
        ("/static/css/app.css", b"tailwindcss"),
        ("/static/vendor/chart.umd.min.js", b"Chart.js v4.5.1"),
        ("/static/js/lib/http.js", b"export async function api"),
    ],
)
def test_it_serves_the_static_files_without_debug(client, settings, path, marker):
    # The suite runs with DEBUG=False: these come from whitenoise, as under `make run` in production mode.
    assert settings.DEBUG is False
    response = client.get(path)
    assert response.status_code == 200
    assert marker in b"".join(response.streaming_content)

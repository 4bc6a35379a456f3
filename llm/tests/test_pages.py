"""The dashboard pages: behind login, login/logout, banners, and 404 for an unknown call."""
import uuid

import pytest

from llm.models import AlertRule

pytestmark = pytest.mark.django_db

PAGES = ["/", "/analytics/", "/logs/", "/feedback/", "/alerts/", "/playground/"]


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


@pytest.mark.parametrize(
    "path, marker",
    [
        ("/static/css/app.css", b"tailwindcss"),
        ("/static/vendor/chart.umd.min.js", b"Chart.js v4.5.1"),
        ("/static/js/api.js", b"window.Obs"),
    ],
)
def test_it_serves_the_static_files_without_debug(client, settings, path, marker):
    # The suite runs with DEBUG=False: these come from whitenoise, as under `make run` in production mode.
    assert settings.DEBUG is False
    response = client.get(path)
    assert response.status_code == 200
    assert marker in b"".join(response.streaming_content)

"""The sessions and users pages, and the links to them from the logs pages, in a real browser."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from llm.models import UserFeedback
from llm.tests.browser import DESKTOP, PHONE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE = '<script>window.__xss = 1</script><img src="x" onerror="window.__xss = 2">"quoted" & <b>bold</b>'


@pytest.fixture
def conversation(make_log):
    """A three-turn session of ann (one turn failed, one with feedback and a trace), and bob's session."""
    now = timezone.now()
    turns = [
        make_log(
            timestamp=now - timedelta(minutes=30 - i),
            user_id="ann",
            session_id="chat-1",
            trace_id="4bf92f3577b34da6a3ce929d0e0e4736" if i == 0 else "",
            model_name="llama-3.1-8b-instant" if i == 1 else "openai/gpt-oss-20b",
            latency_ms=200.0 + 100 * i,
            cost_estimate=Decimal("0.000100") * (i + 1),
            prompt_text=f"question {i}",
            response_text=f"answer {i}",
            status="error" if i == 2 else "success",
            error_type="timeout" if i == 2 else "",
        )
        for i in range(3)
    ]
    UserFeedback.objects.create(request=turns[0], rating="thumbs_up", comment="helpful <b>indeed</b>")
    make_log(timestamp=now - timedelta(hours=2), user_id="bob", session_id="chat-2", cost_estimate=Decimal("0.5"))
    make_log(timestamp=now - timedelta(hours=3), user_id="bob", session_id="chat-2", cost_estimate=Decimal("0.5"))
    return turns


def test_it_replays_a_session_turn_by_turn(dash, alice, conversation):
    dash.open_context(user=alice)
    page = dash.goto("/sessions/chat-1/")
    turns = page.locator("#turns > li")
    assert turns.count() == 3
    assert page.locator("#turns [data-prompt]").all_text_contents() == ["question 0", "question 1", "question 2"]
    assert page.locator("#turns [data-response]").all_text_contents()[:2] == ["answer 0", "answer 1"]
    first = turns.nth(0)
    assert "openai/gpt-oss-20b" in first.text_content()
    assert first.locator("[data-turn-latency]").text_content() == "200 ms"
    assert first.locator("[data-turn-cost]").text_content() == "$0.0001"
    assert "↑ Thumbs up — helpful <b>indeed</b>" in first.text_content()
    assert first.locator("a[href='/traces/4bf92f3577b34da6a3ce929d0e0e4736/']").count() == 1
    assert turns.nth(1).locator("a[href^='/traces/']").count() == 0
    assert turns.nth(2).locator(".badge-error").text_content() == "timeout"
    assert page.locator("#facts a[href='/users/ann/']").text_content() == "ann"
    assert page.locator("#turns-note").is_hidden()
    dash.screenshot("session-detail")
    dash.assert_clean()


def test_it_shows_stored_html_in_a_turn_as_text(dash, alice, make_log):
    make_log(session_id="evil", prompt_text=HOSTILE, response_text=HOSTILE, user_id="<img src=y onerror=alert(1)>")
    dash.open_context(user=alice)
    page = dash.goto("/sessions/evil/")
    assert page.text_content("#turns [data-prompt]") == HOSTILE
    assert page.text_content("#turns [data-response]") == HOSTILE
    assert page.evaluate("window.__xss") is None
    assert page.locator("#session img").count() == 0
    dash.assert_clean()


def test_it_answers_404_for_an_unknown_session_or_user_page(client, alice):
    client.force_login(alice)
    assert client.get("/sessions/nope/").status_code == 404
    assert client.get("/users/nobody/").status_code == 404


def test_it_lists_sessions_newest_first_and_sorts_by_cost(dash, alice, conversation):
    dash.open_context(user=alice)
    page = dash.goto("/sessions/")
    rows = page.locator("#sessions-table tbody tr")
    assert [rows.nth(i).get_attribute("data-session-id") for i in range(rows.count())] == ["chat-1", "chat-2"]
    assert page.text_content("#sessions-count") == "2 sessions"
    loads = dash.loads()
    page.click("[data-sort=cost]")
    dash.wait_loaded(after=loads)
    assert "ordering=-cost" in page.url
    assert rows.first.get_attribute("data-session-id") == "chat-2"
    assert rows.first.locator("a[href='/users/bob/']").count() == 1
    page.click("#sessions-table a[href='/sessions/chat-1/']")
    page.wait_for_url("**/sessions/chat-1/")
    dash.wait_loaded()
    dash.assert_clean()


def test_it_lists_users_sorted_by_cost_with_the_window_in_the_url(dash, alice, conversation):
    dash.open_context(user=alice)
    page = dash.goto("/users/?ordering=-cost&range=24h")
    rows = page.locator("#users-table tbody tr")
    assert [rows.nth(i).get_attribute("data-user-id") for i in range(rows.count())] == ["bob", "ann"]
    assert rows.first.locator("td[data-label=Cost]").text_content() == "$1.00"
    assert rows.first.locator("th, td").first.text_content() == "bob"
    loads = dash.loads()
    page.select_option("#range", "1h")
    dash.wait_loaded(after=loads)
    assert "range=1h" in page.url
    assert [rows.nth(i).get_attribute("data-user-id") for i in range(rows.count())] == ["ann"]
    dash.screenshot("users")
    dash.assert_clean()


def test_it_shows_a_user_with_a_daily_chart_and_recent_sessions(dash, alice, conversation):
    dash.open_context(user=alice)
    page = dash.goto("/users/ann/")
    assert page.text_content("[data-card=calls] [data-value]") == "3"
    assert page.text_content("[data-card=cost] [data-value]") == "$0.0006"
    assert page.text_content("[data-card=errors] [data-value]") == "1"
    points = page.evaluate("Chart.getChart(document.getElementById('chart-daily')).data.labels.length")
    assert points in (30, 31)  # every UTC day of the last 30 days
    link = page.locator("#recent-sessions a[href='/sessions/chat-1/']")
    assert link.text_content() == "chat-1"
    assert "user_id=ann" in page.get_attribute("#user-logs", "href")
    dash.screenshot("user-detail")
    link.click()
    page.wait_for_url("**/sessions/chat-1/")
    dash.wait_loaded()
    assert page.locator("#turns > li").count() == 3
    dash.assert_clean()


def test_it_fits_the_session_and_users_pages_on_a_phone(dash, alice, conversation):
    dash.open_context(user=alice, viewport=PHONE)
    for path in ("/sessions/", "/sessions/chat-1/", "/users/", "/users/ann/"):
        page = dash.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
    dash.assert_clean()


def test_it_links_the_logs_pages_to_the_trace_session_and_user(dash, alice, conversation, make_log):
    bare = make_log(prompt_text="no context at all")
    dash.open_context(user=alice, viewport=DESKTOP)
    page = dash.goto("/logs/")
    traced = page.locator(f"#logs-table tr[data-request-id='{conversation[0].request_id}']")
    assert traced.locator("[data-user-link]").get_attribute("href") == "/users/ann/"
    assert traced.locator("[data-session-link]").get_attribute("href") == "/sessions/chat-1/"
    plain = page.locator(f"#logs-table tr[data-request-id='{bare.request_id}']")
    assert plain.locator("a[data-user-link], a[data-session-link], a[data-trace-link]").count() == 0

    page = dash.goto(f"/logs/{conversation[0].request_id}/")
    assert page.get_attribute("#facts [data-users-link]", "href") == "/users/ann/"
    assert page.get_attribute("#facts [data-sessions-link]", "href") == "/sessions/chat-1/"
    assert page.get_attribute("#facts [data-traces-link]", "href") == "/traces/4bf92f3577b34da6a3ce929d0e0e4736/"
    page = dash.goto(f"/logs/{bare.request_id}/")
    assert page.locator("#facts a").count() == 0
    dash.assert_clean()

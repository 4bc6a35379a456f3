"""The overview page in a real browser: cards equal the API, every chart drawn, range in the URL."""
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from llm.tests.browser import *  # noqa: F401,F403 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHARTS = {"chart-calls", "chart-tokens", "chart-cost", "chart-latency", "chart-models", "chart-errors"}
CARDS = ["total_calls", "error_rate", "avg_latency_ms", "p95_latency_ms", "total_tokens", "total_cost", "unique_users"]


@pytest.fixture
def sample(make_log):
    # 29 days, so every row is inside the page's "last 30 days" however many seconds the
    # browser's clock is past the generator's (which ends on a whole minute).
    call_command("generate_sample_data", "--count", "1500", "--days", "29", "--seed", "7", verbosity=0)
    # Sample errors are random; these make sure the last 24 hours have some of two kinds.
    for minutes, error_type in ((30, "rate_limit"), (90, "timeout"), (200, "rate_limit")):
        make_log(
            timestamp=timezone.now() - timedelta(minutes=minutes), status="error", error_type=error_type,
            error_message=f"{error_type} from the provider", prompt_tokens=10, completion_tokens=0,
        )


def compact(n: int) -> str:
    """What the page's Obs.fmt.compact shows for a count: 850, 1.2k, 149k, 2.3M."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            scaled = n / size
            return f"{round(scaled)}{suffix}" if scaled >= 100 else f"{float(f'{scaled:.1f}'):g}{suffix}"
    return str(n)


def chart_points(page) -> dict:
    return page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('canvas')].map(c => [c.id, Number(c.dataset.points || 0)]))"
    )


def card_values(page) -> dict:
    return page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('[data-card]')].map(c =>"
        " [c.dataset.card, {raw: c.querySelector('[data-value]').dataset.raw, text: c.querySelector('[data-value]').textContent}]))"
    )


def test_it_draws_every_chart_and_shows_the_api_figures(dash, alice, sample):
    page = dash.open_context(user=alice)
    api_requests = []
    page.on("request", lambda request: "/api/" in request.url and api_requests.append(request.url))
    dash.goto("/")
    # No more than one request per chart: six charts, and the cards and the error table ride along.
    assert len(api_requests) == 6
    points = chart_points(page)
    assert set(points) == CHARTS
    assert all(count > 0 for count in points.values()), points
    expected = dash.api("/api/metrics/overview/?" + page.evaluate("document.body.dataset.query"))
    shown = card_values(page)
    for key in CARDS:
        assert float(shown[key]["raw"]) == pytest.approx(float(expected[key])), key
    assert shown["total_calls"]["text"] == compact(expected["total_calls"])
    assert shown["total_tokens"]["text"] == compact(expected["total_tokens"])
    assert shown["error_rate"]["text"] == f"{float(expected['error_rate']):g}%"
    assert expected["total_calls"] > 0
    assert page.locator("#recent-errors tbody tr").count() == min(10, len(dash.api(
        "/api/metrics/errors/?" + page.evaluate("document.body.dataset.query"))["recent"]))
    dash.assert_clean()


def test_it_keeps_the_time_range_in_the_url_and_follows_back(dash, alice, sample):
    dash.open_context(user=alice)
    page = dash.goto("/")
    day_calls = float(card_values(page)["total_calls"]["raw"])
    loads = dash.loads()
    page.select_option("#range", "7d")
    dash.wait_loaded(after=loads)
    assert page.url.endswith("/?range=7d")
    week_calls = float(card_values(page)["total_calls"]["raw"])
    assert week_calls > day_calls
    assert "vs previous 7 days" in page.locator("[data-card=total_calls] [data-delta]").text_content()

    loads = dash.loads()
    page.go_back()
    dash.wait_loaded(after=loads)
    assert page.url == dash.base_url + "/"
    assert page.input_value("#range") == "24h"
    assert float(card_values(page)["total_calls"]["raw"]) == day_calls
    dash.assert_clean()


def test_it_opens_a_shared_link_with_its_range(dash, alice, sample):
    dash.open_context(user=alice)
    page = dash.goto("/?range=30d")
    assert page.input_value("#range") == "30d"
    assert float(card_values(page)["total_calls"]["raw"]) == 1503
    dash.assert_clean()


def test_it_says_so_when_nothing_is_logged(dash, alice):
    dash.open_context(user=alice)
    page = dash.goto("/")
    state = page.locator("#overview-state")
    assert state.is_visible()
    assert "No calls logged yet" in state.text_content()
    assert "make demo" in state.text_content()
    assert card_values(page)["total_calls"]["text"] == "0"
    dash.assert_clean()


def test_it_shows_an_api_error_instead_of_a_blank_chart(dash, alice, sample):
    dash.open_context(user=alice)
    dash.page.route(
        "**/api/metrics/model-usage/**",
        lambda route: route.fulfill(status=500, content_type="application/json", body='{"error": "database is down", "fields": {}}'),
    )
    page = dash.goto("/")
    latency_state = page.locator("#chart-latency").locator("xpath=ancestor::section").locator("[data-state]")
    assert latency_state.is_visible()
    assert "database is down" in latency_state.text_content()
    assert "Some figures could not be loaded" in page.locator("#overview-state").text_content()
    # The other panels still drew their charts.
    assert chart_points(page)["chart-calls"] > 0


def test_it_aborts_a_pending_load_when_the_range_changes(dash, alice, sample):
    dash.open_context(user=alice)
    page = dash.goto("/")
    held = []

    def hold_the_7_day_answers(route):
        if len(held) < 2:  # the first two after the page loaded: this 7-day window and the one before
            held.append(route)
        else:
            route.fallback()

    page.route("**/api/metrics/overview/**", hold_the_7_day_answers)
    page.select_option("#range", "7d")
    page.wait_for_timeout(500)
    assert len(held) == 2
    loads = dash.loads()
    assert loads == 1
    page.select_option("#range", "30d")
    dash.wait_loaded(after=loads)
    assert float(card_values(page)["total_calls"]["raw"]) == 1503
    # The 7-day answers arrive late, and wrong: the page has aborted them, so they change nothing.
    late = json.dumps({key: 999999 for key in CARDS + ["unpriced_calls"]})
    for route in held:
        try:
            route.fulfill(status=200, content_type="application/json", body=late)
        except Exception:  # the browser already dropped the aborted request
            pass
    page.wait_for_timeout(500)
    assert float(card_values(page)["total_calls"]["raw"]) == 1503
    assert dash.loads() == loads + 1
    assert page.url.endswith("/?range=30d")


def set_hidden(page, hidden: bool):
    page.evaluate(
        "(hidden) => { Object.defineProperty(document, 'hidden', {value: hidden, configurable: true});"
        " document.dispatchEvent(new Event('visibilitychange')); }",
        hidden,
    )


def test_it_refreshes_every_30_seconds_only_while_the_tab_is_visible(dash, alice, sample):
    page = dash.open_context(user=alice)
    page.clock.install()
    dash.goto("/")
    assert page.is_checked("#auto-refresh")
    page.clock.run_for(31_000)
    dash.wait_loaded(after=1)

    set_hidden(page, True)
    page.clock.run_for(95_000)
    page.wait_for_timeout(500)
    assert dash.loads() == 2  # nothing while hidden

    set_hidden(page, False)  # back: refresh at once, then every 30 s again
    dash.wait_loaded(after=2)
    page.clock.run_for(31_000)
    dash.wait_loaded(after=3)

    page.uncheck("#auto-refresh")
    assert "refresh=off" in page.url
    page.clock.run_for(95_000)
    page.wait_for_timeout(500)
    assert dash.loads() == 4
    dash.assert_clean()

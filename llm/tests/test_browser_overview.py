"""The overview page in a real browser: cards equal the API, every chart drawn, range in the URL."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

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
            timestamp=timezone.now() - timedelta(minutes=minutes),
            status="error",
            error_type=error_type,
            error_message=f"{error_type} from the provider",
            prompt_tokens=10,
            completion_tokens=0,
        )


def compact(n: int) -> str:
    """What compact() of static/js/lib/format.js shows for a count: 850, 1.2k, 149k, 2.3M."""
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
        " [c.dataset.card, {raw: c.querySelector('[data-value]').dataset.raw,"
        " text: c.querySelector('[data-value]').textContent}]))"
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
    assert page.locator("#recent-errors tbody tr").count() == min(
        10, len(dash.api("/api/metrics/errors/?" + page.evaluate("document.body.dataset.query"))["recent"])
    )
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
        lambda route: route.fulfill(
            status=500, content_type="application/json", body='{"error": "database is down", "fields": {}}'
        ),
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


def chart_state(page, canvas_id: str) -> dict:
    """What a chart holds: labels, datasets (label, axis, colours), tick values per axis, hatched buckets."""
    return page.evaluate(
        """(id) => {
            const chart = Chart.getChart(document.getElementById(id));
            return {
                labels: chart.data.labels,
                datasets: chart.data.datasets.map((d) => ({
                    label: d.label, axis: d.yAxisID || 'y', data: d.data,
                    background: d.backgroundColor, border: d.borderColor,
                })),
                ticks: Object.fromEntries(
                  Object.entries(chart.scales).map(([k, s]) => [k, s.ticks.map((t) => t.value)])
                ),
                partial: chart.canvas.dataset.partial,
            };
        }""",
        canvas_id,
    )


def deltas(page) -> dict:
    return page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('[data-card]')].map(c =>"
        " [c.dataset.card, c.querySelector('[data-delta]').textContent]))"
    )


def test_it_shows_a_change_only_when_the_previous_period_had_30_calls(dash, alice, make_log):
    day = datetime(2024, 6, 11, tzinfo=UTC)
    for i in range(40):  # this period: 40 calls, 2 of them errors (5 %)
        make_log(
            timestamp=day + timedelta(minutes=30 * i + 1),
            status="error" if i < 2 else "success",
            error_type="timeout" if i < 2 else "",
            user_id=f"u{i % 4}",
        )
    for i in range(10):  # the day before: only 10 calls
        make_log(timestamp=day - timedelta(hours=1, minutes=i), user_id="u0")
    dash.open_context(user=alice)
    url = "/?range=custom&start=2024-06-11T00:00:00Z&end=2024-06-12T00:00:00Z"
    page = dash.goto(url)
    shown = deltas(page)
    # One rule for every card, the error rate included: 10 previous calls are too few for any change.
    assert shown == {key: "n/a vs previous period" for key in CARDS}, shown
    title = page.get_attribute("[data-card=total_calls] [data-delta]", "title")
    assert title == "The previous period had 10 calls; a change is shown from 30."

    for i in range(22):  # 32 previous calls, 2 of them errors (6.25 %)
        make_log(
            timestamp=day - timedelta(hours=2, minutes=i),
            status="error" if i < 2 else "success",
            error_type="timeout" if i < 2 else "",
            user_id="u0",
        )
    page = dash.goto(url)
    shown = deltas(page)
    assert shown["total_calls"] == "▲ 25.0% vs previous period"  # 40 against 32
    assert shown["error_rate"] == "▼ 1.25 pp vs previous period"  # 5 % against 6.25 %
    assert shown["unique_users"] == "▲ 300% vs previous period"  # 4 users against 1
    assert shown["avg_latency_ms"] == "no change vs previous period"
    dash.assert_clean()


def test_it_hatches_partial_buckets_with_integer_counts_and_errors_on_their_own_axis(dash, alice, make_log):
    at = lambda hour, minute: datetime(2024, 6, 11, hour, minute, tzinfo=UTC)  # noqa: E731
    for when in (at(11, 10), at(11, 20), at(11, 40), at(13, 5), at(13, 6)):
        make_log(timestamp=when)
    make_log(timestamp=at(12, 20), status="error", error_type="timeout")
    dash.open_context(user=alice)
    # 10:30 to 14:30: hourly buckets 10:00 … 14:00, the first and last only half inside the range.
    page = dash.goto("/?range=custom&start=2024-06-11T10:30:00Z&end=2024-06-11T14:30:00Z")
    calls = chart_state(page, "chart-calls")
    assert len(calls["labels"]) == 5
    assert [d["data"] for d in calls["datasets"]] == [[0, 3, 1, 2, 0], [0, 0, 1, 0, 0]]
    assert [d["axis"] for d in calls["datasets"]] == ["y", "errors"]
    for axis in ("y", "errors"):
        assert calls["ticks"][axis] and all(float(v).is_integer() for v in calls["ticks"][axis]), calls["ticks"]
    tokens = chart_state(page, "chart-tokens")
    assert all(float(v).is_integer() for v in tokens["ticks"]["y"])
    for chart in ("chart-calls", "chart-tokens", "chart-cost"):
        assert chart_state(page, chart)["partial"] == "0,4", chart
    note = page.locator("#chart-calls").locator("xpath=ancestor::section").locator("[data-partial-note]")
    assert note.is_visible()
    assert note.text_content().startswith("Hatched: the first and last hours are incomplete")

    # A range on whole hours has no partial bucket, and says nothing about it.
    page = dash.goto("/?range=custom&start=2024-06-11T10:00:00Z&end=2024-06-11T14:00:00Z")
    assert chart_state(page, "chart-calls")["partial"] == ""
    assert note.is_hidden()
    dash.assert_clean()


def test_it_ends_a_custom_range_without_an_empty_trailing_bucket(dash, alice, make_log):
    make_log(timestamp=datetime(2024, 6, 14, 23, 30, tzinfo=UTC))
    make_log(timestamp=datetime(2024, 6, 15, tzinfo=UTC))  # the range's end: outside
    page = dash.open_context(user=alice)
    dash.goto("/")
    sent = []
    page.on("request", lambda r: "/api/metrics/token-usage/" in r.url and sent.append(r.url))
    # The range control, in the browser's zone (New York, UTC-4 in June): 10 June to 15 June, 00:00 UTC.
    page.select_option("#range", "custom")
    page.fill("#range-start", "2024-06-09T20:00")
    page.fill("#range-end", "2024-06-14T20:00")
    loads = dash.loads()
    page.click("#range-form button[type=submit]")
    dash.wait_loaded(after=loads)
    assert "end_date=2024-06-14T23%3A59%3A59.999999Z" in sent[-1]
    calls = chart_state(page, "chart-calls")
    assert calls["labels"] == ["Jun 10", "Jun 11", "Jun 12", "Jun 13", "Jun 14"]
    assert calls["datasets"][0]["data"] == [0, 0, 0, 0, 1]
    assert calls["partial"] == ""
    assert card_values(page)["total_calls"]["raw"] == "1"
    dash.assert_clean()


def model_colours(page, canvas_id: str) -> dict:
    state = chart_state(page, canvas_id)
    if canvas_id == "chart-models":
        return dict(zip(state["labels"], state["datasets"][0]["background"], strict=True))
    return {d["label"]: d["border"] for d in state["datasets"]}


def test_it_keeps_each_models_colour_across_ranges_and_pages(dash, alice, make_log):
    now = timezone.now()
    # Last 24 hours: llama leads; over 7 days qwen leads, and a third model appears: ranks change.
    for i in range(6):
        make_log(timestamp=now - timedelta(hours=2, minutes=i), model_name="llama-3.1-8b-instant")
    make_log(timestamp=now - timedelta(hours=3), model_name="qwen/qwen3-32b")
    for i in range(12):
        make_log(timestamp=now - timedelta(days=3, minutes=i), model_name="qwen/qwen3-32b")
    make_log(timestamp=now - timedelta(days=4), model_name="openai/gpt-oss-120b")
    dash.open_context(user=alice)
    page = dash.goto("/")
    day = model_colours(page, "chart-models")
    assert list(day) == ["llama-3.1-8b-instant", "qwen/qwen3-32b"]
    page = dash.goto("/?range=7d")
    week = model_colours(page, "chart-models")
    assert list(week) == ["qwen/qwen3-32b", "llama-3.1-8b-instant", "openai/gpt-oss-120b"]
    page = dash.goto("/analytics/?range=7d")
    lines = model_colours(page, "chart-latency")
    for model in ("llama-3.1-8b-instant", "qwen/qwen3-32b"):
        assert day[model] == week[model] == lines[model], model
    assert week["openai/gpt-oss-120b"] == lines["openai/gpt-oss-120b"]
    assert len({day["llama-3.1-8b-instant"], day["qwen/qwen3-32b"]}) == 2
    dash.assert_clean()

"""The logs list and the call detail page in a real browser."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from llm.models import UserFeedback
from llm.tests.browser import BROWSER_TIME_ZONE, DESKTOP, PHONE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE = '<script>window.__xss = 1</script><img src="x" onerror="window.__xss = 2">"quoted" & <b>bold</b>'


@pytest.fixture
def calls(make_log):
    now = timezone.now()
    rows = [
        make_log(
            timestamp=now - timedelta(minutes=10 * i),
            latency_ms=100.0 + i,
            prompt_text=f"question number {i}",
            model_name="llama-3.1-8b-instant" if i % 2 else "openai/gpt-oss-20b",
            user_id=f"user-{i % 3}",
        )
        for i in range(30)
    ]
    rows.append(
        make_log(timestamp=now - timedelta(minutes=1), prompt_text="the needle in the haystack", latency_ms=50.0)
    )
    return rows


def visible_prompts(page) -> list[str]:
    return page.locator("#logs-table tbody tr td:last-child").all_text_contents()


def test_it_searches_sorts_and_pages(dash, alice, calls):
    dash.open_context(user=alice)
    page = dash.goto("/logs/?page_size=25")
    assert page.locator("#logs-table tbody tr").count() == 25
    assert page.text_content("#logs-count") == "31 calls"
    assert page.text_content("#page-info") == "Page 1 of 2"

    loads = dash.loads()
    page.click("#next-page")
    dash.wait_loaded(after=loads)
    assert "page=2" in page.url
    assert page.locator("#logs-table tbody tr").count() == 6

    loads = dash.loads()
    page.click("[data-sort=latency_ms]")  # slowest first
    dash.wait_loaded(after=loads)
    assert "ordering=-latency_ms" in page.url and "page=" not in page.url
    assert visible_prompts(page)[0] == "question number 29"
    loads = dash.loads()
    page.click("[data-sort=latency_ms]")  # then fastest first
    dash.wait_loaded(after=loads)
    assert "ordering=latency_ms" in page.url
    assert visible_prompts(page)[0] == "the needle in the haystack"

    loads = dash.loads()
    page.fill("#f-search", "needle")
    page.click("#filters button[type=submit]")
    dash.wait_loaded(after=loads)
    assert "search=needle" in page.url
    assert visible_prompts(page) == ["the needle in the haystack"]
    assert "search=needle" in page.get_attribute("#export-csv", "href")
    assert "search=needle" in page.get_attribute("#export-json", "href")

    loads = dash.loads()
    page.go_back()
    dash.wait_loaded(after=loads)
    assert page.input_value("#f-search") == ""
    assert page.text_content("#logs-count") == "31 calls"
    dash.assert_clean()


def test_it_filters_by_model_and_status(dash, alice, calls, make_log):
    make_log(status="error", error_type="rate_limit", model_name="llama-3.1-8b-instant", prompt_text="failed one")
    dash.open_context(user=alice)
    page = dash.goto("/logs/")
    loads = dash.loads()
    page.fill("#f-model", "llama-3.1-8b-instant")
    page.select_option("#f-status", "error")
    page.click("#filters button[type=submit]")
    dash.wait_loaded(after=loads)
    assert visible_prompts(page) == ["failed one"]
    assert page.locator("#logs-table tbody tr .badge").text_content() == "error"
    dash.assert_clean()


def test_it_shows_stored_html_as_text_without_running_it(dash, alice, make_log):
    log = make_log(prompt_text=HOSTILE, response_text=HOSTILE, user_id='<img src=y onerror="window.__xss=3">')
    dash.open_context(user=alice)
    page = dash.goto("/logs/")
    assert visible_prompts(page) == [HOSTILE]
    page = dash.goto(f"/logs/{log.request_id}/")
    assert page.text_content("#prompt-text") == HOSTILE
    assert page.text_content("#response-text") == HOSTILE
    assert page.evaluate("window.__xss") is None
    assert page.locator("#detail img").count() == 0
    dash.assert_clean()


def test_it_records_thumbs_up_and_down_from_the_detail_page(dash, alice, make_log):
    log = make_log(prompt_text="rate me")
    dash.open_context(user=alice)
    page = dash.goto(f"/logs/{log.request_id}/")
    assert page.text_content("#feedback-list") == "No feedback yet."
    loads = dash.loads()
    page.fill("#feedback-comment", "Spot on <b>thanks</b>")
    page.click("[data-rating=thumbs_up]")
    dash.wait_loaded(after=loads)
    loads = dash.loads()
    page.click("[data-rating=thumbs_down]")
    dash.wait_loaded(after=loads)
    ratings = list(UserFeedback.objects.filter(request=log).order_by("created_at").values_list("rating", "comment"))
    assert ratings == [("thumbs_up", "Spot on <b>thanks</b>"), ("thumbs_down", "")]
    assert page.locator("#feedback-list li").count() == 2
    assert "Spot on <b>thanks</b>" in page.text_content("#feedback-list")
    assert page.text_content("#feedback-status") == "Thanks — feedback saved."
    dash.assert_clean()


def test_it_shows_local_times_with_utc_on_hover_and_a_custom_range(dash, alice, calls):
    dash.open_context(user=alice)
    page = dash.goto("/logs/")
    newest = calls[0].timestamp
    local = newest.astimezone(ZoneInfo(BROWSER_TIME_ZONE))
    first = page.locator("#logs-table tbody tr td:first-child a").first
    hour = local.hour % 12 or 12
    assert first.text_content() == f"{local:%b} {local.day}, {local.year}, {hour}:{local:%M:%S} {local:%p}"
    assert first.get_attribute("title") == f"{newest:%Y-%m-%d %H:%M:%S} UTC"

    # A custom window covering the 2nd to 5th call (20–50 minutes ago), typed in local time.
    start = (timezone.now() - timedelta(minutes=55)).astimezone(ZoneInfo(BROWSER_TIME_ZONE))
    end = (timezone.now() - timedelta(minutes=15)).astimezone(ZoneInfo(BROWSER_TIME_ZONE))
    page.select_option("#range", "custom")
    page.fill("#range-start", f"{start:%Y-%m-%dT%H:%M}")
    page.fill("#range-end", f"{end:%Y-%m-%dT%H:%M}")
    loads = dash.loads()
    page.click("#range-form button[type=submit]")
    dash.wait_loaded(after=loads)
    assert "range=custom" in page.url and "start=" in page.url and "end=" in page.url
    assert sorted(visible_prompts(page)) == [f"question number {i}" for i in (2, 3, 4, 5)]
    page.reload()
    dash.wait_loaded()
    assert page.input_value("#range") == "custom"
    assert len(visible_prompts(page)) == 4
    dash.assert_clean()


@pytest.fixture
def long_calls(make_log):
    """Calls with the longest values a row can hold: model and user names, an error, a long prompt."""
    now = timezone.now()
    for i in range(5):
        make_log(
            timestamp=now - timedelta(minutes=i + 1),
            model_name="meta-llama/llama-4-scout-17b-16e-instruct-" + "x" * 40,
            user_id="customer-" + "0123456789abcdef" * 4,
            status="error",
            error_type="context_length",
            prompt_text="Summarise the following support ticket in two sentences. " * 20,
            prompt_tokens=120000,
            completion_tokens=3456,
            latency_ms=12345.6,
            cost_estimate=None,
        )
    make_log(timestamp=now - timedelta(minutes=10), prompt_text="short and fine")


def test_it_fits_the_logs_table_in_a_1440_pixel_window(dash, alice, long_calls):
    dash.open_context(user=alice, viewport=DESKTOP)
    page = dash.goto("/logs/")
    assert page.locator("#logs-table tbody tr").count() == 6
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    wrapper = page.locator("#logs-table").locator("xpath=..")
    assert page.evaluate("(w) => w.scrollWidth <= w.clientWidth", wrapper.element_handle())
    first = page.locator("#logs-table tbody tr").first
    # Long values are cut to their cell, whole in the tooltip.
    model = first.locator("td[data-label=Model] span")
    assert model.get_attribute("title") == "meta-llama/llama-4-scout-17b-16e-instruct-" + "x" * 40
    assert page.evaluate("(s) => s.scrollWidth > s.clientWidth", model.element_handle())  # truncated, not overflowing
    prompt = first.locator("td:last-child")
    prompt_box, table_box = prompt.bounding_box(), page.locator("#logs-table").bounding_box()
    assert prompt_box["width"] >= 120  # the prompt keeps a readable share of the row
    assert prompt_box["x"] + prompt_box["width"] <= table_box["x"] + table_box["width"] + 0.5
    dash.assert_clean()


def test_it_leads_each_call_with_its_status_on_a_phone(dash, alice, long_calls):
    dash.open_context(user=alice, viewport=PHONE)
    page = dash.goto("/logs/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    row = page.locator("#logs-table tbody tr").first
    status, error_type = row.locator(".badge"), row.locator("td").nth(3)
    assert status.text_content() == "error" and error_type.text_content() == "context_length"
    top = status.bounding_box()["y"]
    assert abs(error_type.bounding_box()["y"] - top) < 8  # on the status line
    for cell in (row.locator("td").first, row.locator("td[data-label=Model]"), row.locator("td:last-child")):
        assert cell.bounding_box()["y"] > top + 8
    row_box = row.bounding_box()
    assert row_box["x"] >= 0 and row_box["x"] + row_box["width"] <= PHONE["width"]
    latency = row.locator("td[data-label=Latency]")
    assert latency.text_content() == "12.3 s"
    assert page.evaluate("(td) => getComputedStyle(td, '::before').content", latency.element_handle()) == '"Latency: "'
    dash.screenshot("logs-cards")
    dash.assert_clean()

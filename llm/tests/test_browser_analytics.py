"""Analytics and feedback pages in a real browser: filters in the URL drive the figures; downloads match the screen."""

from datetime import timedelta

import pytest
from django.utils import timezone

from llm.models import UserFeedback

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def calls(make_log):
    now = timezone.now()
    for i in range(12):
        make_log(timestamp=now - timedelta(hours=i), model_name="openai/gpt-oss-20b", latency_ms=200.0 + i)
    for i in range(4):
        make_log(
            timestamp=now - timedelta(hours=i), model_name="unpriced/model-x", latency_ms=900.0, cost_estimate=None
        )


def table(page) -> list[list[str]]:
    return [row.locator("td").all_text_contents() for row in page.locator("#model-table tbody tr").all()]


def test_it_filters_by_model_in_the_url_and_downloads_what_is_shown(dash, alice, calls):
    dash.open_context(user=alice)
    page = dash.goto("/analytics/")
    rows = table(page)
    assert [tuple(r[:3]) for r in rows] == [("openai/gpt-oss-20b", "12", "75%"), ("unpriced/model-x", "4", "25%")]
    # Output speed: 12 calls × 50 output tokens over 12 × 205.5 ms of latency.
    seconds = sum(200.0 + i for i in range(12)) / 1000
    assert rows[0][10:12] == [f"{round(600 / seconds)}", f"{round(seconds * 1000 / 600, 2)} ms"]
    charts = ("calls", "tokens", "cost", "latency")
    assert all(int(page.get_attribute(f"#chart-{c}", "data-points")) > 0 for c in charts)

    loads = dash.loads()
    page.select_option("#f-model", "unpriced/model-x")
    dash.wait_loaded(after=loads)
    assert "model=unpriced%2Fmodel-x" in page.url
    assert [r[:2] for r in table(page)] == [["unpriced/model-x", "4"]]
    assert table(page)[0][4] == "—"  # a model with no price has no cost, not $0

    with page.expect_download() as download:
        page.click("#download-csv")
    lines = open(download.value.path(), encoding="utf-8").read().splitlines()
    assert lines[0].startswith("model,calls,share,total_tokens,total_cost")
    assert lines[1].startswith("unpriced/model-x,4,100")

    loads = dash.loads()
    page.go_back()
    dash.wait_loaded(after=loads)
    assert page.input_value("#f-model") == ""
    assert len(table(page)) == 2
    dash.assert_clean()


def test_it_shows_satisfaction_from_the_api(dash, alice, make_log):
    for i, rating in enumerate(["thumbs_up", "thumbs_up", "thumbs_up", "thumbs_down"]):
        log = make_log(prompt_text=f"q{i}")
        UserFeedback.objects.create(request=log, rating=rating, comment="<i>meh</i>" if rating == "thumbs_down" else "")
    dash.open_context(user=alice)
    page = dash.goto("/feedback/")
    names = ("total", "satisfaction_rate", "thumbs_up", "thumbs_down")
    cards = {c: page.text_content(f"[data-card={c}] [data-value]") for c in names}
    assert cards == {"total": "4", "satisfaction_rate": "75%", "thumbs_up": "3", "thumbs_down": "1"}
    assert page.locator("#comments li").count() == 1
    assert "<i>meh</i>" in page.text_content("#comments")
    assert int(page.get_attribute("#chart-by-model", "data-points")) == 1
    dash.assert_clean()

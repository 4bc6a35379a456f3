"""The traces list and a trace's waterfall in a real browser."""

import json

import pytest
from django.utils import timezone

from llm.tests.tracekit import MS, agent_run, llm_attributes, post, span

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE = '<script>window.__xss = 1</script><img src="x" onerror="window.__xss = 2">"quoted" & <b>bold</b>'
T1 = "a1" * 16
T2 = "b2" * 16


@pytest.fixture
def runs(ingest_secret):
    start = int(timezone.now().timestamp() - 3600) * 10**9
    run = agent_run(T1, start, failing_tool=True)
    llm = next(s for s in run if s["name"].startswith("chat"))
    llm["attributes"] = [
        {"key": k, "value": {"stringValue": v} if isinstance(v, str) else {"intValue": str(v)}}
        for k, v in llm_attributes(prompt=HOSTILE, answer=HOSTILE, **{"user.id": "u-1", "session.id": "s-1"}).items()
    ]
    assert post(ingest_secret, *run).status_code == 200
    post(ingest_secret, *agent_run(T2, start + 600_000 * MS, user="u-2", session="s-2"))
    return run


def test_it_lists_traces_and_filters_them_in_the_url(dash, alice, runs):
    dash.open_context(user=alice)
    page = dash.goto("/traces/")

    assert page.locator("#traces-table tbody tr").count() == 2
    assert page.text_content("#traces-count") == "2 traces"
    first = page.locator("#traces-table tbody tr").first
    assert first.get_attribute("data-trace-id") == T2
    assert "answer_question" in first.text_content()

    loads = dash.loads()
    page.fill("#f-user", "u-1")
    page.click("#filters button[type=submit]")
    dash.wait_loaded(after=loads)
    assert "user_id=u-1" in page.url
    rows = page.locator("#traces-table tbody tr")
    assert [rows.nth(i).get_attribute("data-trace-id") for i in range(rows.count())] == [T1]
    assert rows.first.locator(".badge-error").text_content() == "1"

    loads = dash.loads()
    page.fill("#f-user", "nobody")
    page.click("#filters button[type=submit]")
    dash.wait_loaded(after=loads)
    assert page.text_content("[data-state]") == "No traces match these filters."

    loads = dash.loads()
    page.click("#reset-filters")
    dash.wait_loaded(after=loads)
    page.click("[data-sort=duration_ms]")
    dash.wait_loaded(after=loads + 1)
    assert "ordering=-duration_ms" in page.url
    dash.screenshot("traces")
    dash.assert_clean()


def test_it_draws_the_waterfall_and_shows_a_span(dash, alice, runs):
    dash.open_context(user=alice)
    page = dash.goto(f"/traces/{T1}/")

    items = page.locator("#waterfall [role=treeitem]")
    assert items.count() == 5
    assert items.evaluate_all("(nodes) => nodes.map((n) => n.getAttribute('aria-level'))") == ["1", "2", "3", "2", "2"]
    indent = items.evaluate_all("(nodes) => nodes.map((n) => parseFloat(getComputedStyle(n.firstChild).paddingLeft))")
    assert indent[0] == 0 and indent[2] > indent[1] > 0
    failed = page.locator("#waterfall [data-status=error]")
    assert failed.count() == 1 and "tool calculator" in failed.text_content()
    assert "bg-red-600" in failed.locator("[data-bar]").get_attribute("class")
    # The root's bar spans the whole axis; the tool's starts at 1250 of 1500 ms.
    widths = items.evaluate_all("(nodes) => nodes.map((n) => n.querySelector('[data-bar]').style.left)")
    assert (widths[0], widths[4]) == ("0%", "83.3333%")

    loads = dash.loads()
    page.locator("#waterfall [role=treeitem]", has_text="chat test/model").click()
    dash.wait_loaded(after=loads)
    assert page.text_content("#span-prompt") == f"user: {HOSTILE}"
    assert page.text_content("#span-response") == f"assistant: {HOSTILE}"
    assert page.evaluate("window.__xss") is None
    assert json.loads(page.text_content("#span-attributes"))["gen_ai.request.model"] == "test/model"
    assert "span=" in page.url

    loads = dash.loads()
    page.keyboard.press("ArrowDown")  # to the failing tool
    dash.wait_loaded(after=loads)
    assert page.text_content("#h-span") == "tool calculator"
    assert "error: division by zero" in page.text_content("#span-facts")
    assert page.locator("#span-call").is_hidden()
    dash.screenshot("trace-detail")
    dash.assert_clean()


def test_it_shows_an_orphan_span_as_a_root(dash, alice, ingest_secret):
    trace_id = "c3" * 16
    start = int(timezone.now().timestamp() - 60) * 10**9
    post(
        ingest_secret,
        span(trace_id, "00000000000000e1", start_ns=start, parent="00000000000000ff", attributes=llm_attributes()),
    )
    dash.open_context(user=alice)
    page = dash.goto(f"/traces/{trace_id}/")

    assert page.locator("#waterfall .badge", has_text="orphan").count() == 1
    dash.assert_clean()


def test_it_answers_404_for_an_unknown_trace_and_sends_strangers_to_log_in(client, alice, runs):
    assert client.get(f"/traces/{T1}/").status_code == 302
    assert client.get("/traces/").status_code == 302
    client.force_login(alice)
    assert client.get(f"/traces/{T1}/").status_code == 200
    assert client.get(f"/traces/{T1.upper()}/").status_code == 200
    assert client.get(f"/traces/{'0' * 32}/").status_code == 404
    assert client.get("/traces/not-a-trace/").status_code == 404

"""The playground in a real browser, against the Groq-compatible fake server: streamed and whole answers."""

import pytest

from llm.models import LLMRequestLog

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_streams_the_answer_in_and_links_the_logged_call(dash, alice, fake_groq):
    fake_groq.reply_stream(chunks=["Hello", " <img src=x onerror=alert(1)>", " from", " the stream."], chunk_delay=0.4)
    dash.open_context(user=alice)
    page = dash.goto("/playground/")
    page.fill("#p-prompt", "Say hello")
    page.fill("#p-temperature", "0.2")
    page.click("#send")
    # Part of the answer is on screen while the stream is still running.
    page.wait_for_function(
        "document.getElementById('answer').textContent.startsWith('Hello')"
        " && document.getElementById('logged-call').hidden"
    )
    page.locator("#logged-call:not([hidden])").wait_for()
    assert page.text_content("#answer") == "Hello <img src=x onerror=alert(1)> from the stream."
    log = LLMRequestLog.objects.get()
    assert page.get_attribute("#logged-call", "href") == f"/logs/{log.request_id}/"
    assert log.response_text == "Hello <img src=x onerror=alert(1)> from the stream."
    assert log.time_to_first_token_ms is not None
    sent = fake_groq.requests[0].json
    assert sent["stream"] is True and sent["temperature"] == 0.2
    dash.assert_clean()


def test_it_shows_the_error_event_of_a_stream_that_fails(dash, alice, fake_groq):
    fake_groq.reply_stream(chunks=["par", "tial"], error="Model overloaded")
    dash.open_context(user=alice)
    page = dash.goto("/playground/")
    page.fill("#p-prompt", "Will break halfway")
    page.click("#send")
    page.locator("#logged-call:not([hidden])").wait_for()
    # The event's `error`, as in a JSON error body (its deprecated `message` is not read).
    assert page.text_content("#answer-state") == "server_error: Model overloaded"
    assert page.text_content("#answer") == "partial"
    log = LLMRequestLog.objects.get()
    assert page.get_attribute("#logged-call", "href") == f"/logs/{log.request_id}/"
    dash.assert_clean()


def test_it_shows_a_whole_answer_without_streaming(dash, alice, fake_groq):
    fake_groq.reply_completion("A complete answer.", prompt_tokens=12, completion_tokens=4)
    dash.open_context(user=alice)
    page = dash.goto("/playground/")
    page.fill("#p-prompt", "Answer at once")
    page.uncheck("#p-stream")
    page.click("#send")
    page.locator("#logged-call:not([hidden])").wait_for()
    assert page.text_content("#answer") == "A complete answer."
    assert "12 in / 4 out" in page.text_content("#answer-facts")
    assert LLMRequestLog.objects.get().prompt_tokens == 12
    dash.assert_clean()


def test_it_shows_the_providers_error_with_the_logged_call(dash, alice, fake_groq):
    fake_groq.reply_error(401, "Invalid API Key", type="invalid_request_error", code="invalid_api_key")
    dash.open_context(user=alice)
    page = dash.goto("/playground/")
    page.fill("#p-prompt", "Will fail")
    page.uncheck("#p-stream")
    page.click("#send")
    page.locator("#logged-call:not([hidden])").wait_for()
    assert page.text_content("#answer-state").startswith("authentication:")
    log = LLMRequestLog.objects.get()
    assert (log.status, log.error_type) == ("error", "authentication")
    assert page.get_attribute("#logged-call", "href") == f"/logs/{log.request_id}/"
    # The failing call's 5xx answer is the behaviour under test.
    assert all("/api/llm/prompt/" in p or "Failed to load resource" in p for p in dash.problems)

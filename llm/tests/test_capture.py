from llm.calls.capture import captured_text, render_messages


def test_it_keeps_short_text_as_is(settings):
    settings.LLM_LOG_MAX_TEXT_CHARS = 100
    assert captured_text("hello") == "hello"
    assert captured_text(None) == ""


def test_it_truncates_long_text_with_a_marker(settings):
    settings.LLM_LOG_MAX_TEXT_CHARS = 100
    stored = captured_text("x" * 250)
    assert stored == "x" * 100 + "\n…[truncated 150 characters]"


def test_it_stores_nothing_when_capture_is_off(settings):
    settings.LLM_LOG_CAPTURE_TEXT = False
    assert captured_text("private prompt") == ""


def test_it_renders_chat_messages_readably():
    text = render_messages(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "image_url"}]},
        ]
    )
    assert text == "system: Be brief.\n\nuser: Hi"

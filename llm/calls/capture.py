"""What of a call's text we store: the privacy rules shared by every way a call arrives.

LLM_LOG_CAPTURE_TEXT=False stores no text at all; otherwise text past
LLM_LOG_MAX_TEXT_CHARS is cut and marked, so a reader knows it is incomplete.
"""

from django.conf import settings

TRUNCATION_MARKER = "\n…[truncated {dropped} characters]"


def captured_text(text: str | None) -> str:
    """The text as it may be stored: '' when capture is off, truncated with a marker when too long."""
    if not text or not settings.LLM_LOG_CAPTURE_TEXT:
        return ""
    limit = settings.LLM_LOG_MAX_TEXT_CHARS
    if len(text) <= limit:
        return text
    return text[:limit] + TRUNCATION_MARKER.format(dropped=len(text) - limit)


def render_messages(messages: list[dict]) -> str:
    """A readable rendering of an OpenAI-style chat list: one 'role: content' block per message."""
    blocks = []
    for message in messages:
        content = message.get("content", "")
        if isinstance(content, list):  # content parts: keep the text ones
            content = "\n".join(str(part["text"]) for part in content if isinstance(part, dict) and "text" in part)
        blocks.append(f"{message.get('role', 'user')}: {content}")
    return "\n\n".join(blocks)

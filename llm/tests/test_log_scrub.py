"""No secret reaches a log file: every record, traceback included, is scrubbed (core/logscrub.py)."""

import copy
import logging
import logging.config

import pytest
from django.db import OperationalError, connection

from core.logscrub import scrub_log_text
from llm.sources.groq import LLMServiceError, groq_service


@pytest.fixture
def app_log(settings, tmp_path):
    """The project's real LOGGING, with its file handler writing to a temporary app.log."""
    path = tmp_path / "app.log"
    config = copy.deepcopy(settings.LOGGING)
    config["handlers"]["file"]["filename"] = path
    config["root"]["level"] = "INFO"
    logging.config.dictConfig(config)
    yield path
    logging.config.dictConfig(settings.LOGGING)


@pytest.mark.django_db
def test_it_keeps_the_key_out_of_app_log_when_the_price_lookup_fails_after_a_401(fake_groq, settings, app_log):
    key = settings.GROQ_API_KEY
    settings.GROQ_MAX_RETRIES = 0
    fake_groq.reply_error(401, f"Invalid API Key {key}", code="invalid_api_key")

    def database_down(execute, sql, params, many, context):
        raise OperationalError("server closed the connection unexpectedly")

    with connection.execute_wrapper(database_down), pytest.raises(LLMServiceError):
        groq_service.complete(prompt="hello")

    text = app_log.read_text()
    assert "Price lookup failed" in text
    assert "Traceback" in text and "Invalid API Key [redacted]" in text  # the chained 401, scrubbed
    assert key not in text
    assert key[4:20] not in text  # not even a fragment of it


def test_it_scrubs_message_arguments_and_exceptions_of_any_logger(app_log, settings):
    key = settings.GROQ_API_KEY
    logger = logging.getLogger("some.library")
    try:
        raise RuntimeError(f"upstream said: bad key {key}")
    except RuntimeError:
        logger.error("request with headers %r failed", {"Authorization": f"Bearer {key}"}, exc_info=True)
    logger.warning("connecting to %s", "postgres://app:hunter2-very-secret@db.internal:5432/llm")

    text = app_log.read_text()
    assert key not in text
    assert "'Bearer [redacted]'" in text
    assert "RuntimeError: upstream said: bad key [redacted]" in text
    assert "hunter2" not in text and "postgres://app:[redacted]@db.internal:5432/llm" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key gsk_abcDEF1234567890xyz used", "key [redacted] used"),
        ("ingest llmo_Q2x-9_aaaaaaaaaaaaaaaa", "ingest [redacted]"),
        ("Authorization: Bearer eyJhbGciOi.J9.abc", "Authorization: Bearer [redacted]"),
        ("api_key='s3cr3t-value'", "api_key='[redacted]'"),
        ("EMAIL_HOST_PASSWORD=topsecret", "EMAIL_HOST_PASSWORD=[redacted]"),
        # Ordinary text is left alone.
        ("gsk_ alone, a gsk_short and a basic idea", "gsk_ alone, a gsk_short and a basic idea"),
        ("latency 120 ms for model openai/gpt-oss-20b", "latency 120 ms for model openai/gpt-oss-20b"),
    ],
)
def test_it_recognises_credential_shapes(text, expected):
    assert scrub_log_text(text) == expected


def test_it_never_breaks_the_code_that_logs(app_log):
    logging.getLogger("x").error("bad format %d", "not a number")  # a malformed call still logs a line
    assert "withheld" in app_log.read_text()

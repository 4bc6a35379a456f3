"""The shared cast: an admin, an on-call engineer (regular user) and API clients for each; a frozen clock."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from llm.models import LLMRequestLog
from llm.tests import browser, webhooks

# Fixtures that live beside the helpers they use, offered to every test module from here: chromium and dash
# (browser tests), webhook_server and fast_webhooks (alert notifications). Not `pytest_plugins`, which
# pytest refuses outside the rootdir's conftest when the suite is started as `pytest .`.
chromium, dash = browser.chromium, browser.dash
webhook_server, fast_webhooks = webhooks.webhook_server, webhooks.fast_webhooks

# The instant `frozen` stops the clock at (a Monday noon, UTC); tests build their rows relative to it.
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    """The clock stopped at NOW (time_machine); `frozen.shift(timedelta(...))` moves it on."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser(username="root", email="root@example.com", password="pw-root-1")


@pytest.fixture
def alice(django_user_model):
    """A regular dashboard user (not staff)."""
    return django_user_model.objects.create_user(username="alice", email="alice@example.com", password="pw-alice-1")


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def alice_client(alice):
    client = APIClient()
    client.force_authenticate(alice)
    return client


@pytest.fixture
def alice_token(alice):
    return Token.objects.create(user=alice).key


@pytest.fixture
def make_log():
    """Create one call row; keyword arguments override realistic defaults."""

    def make(**fields):
        prompt = fields.pop("prompt_tokens", 100)
        completion = fields.pop("completion_tokens", 50)
        values = {
            "request_id": uuid.uuid4(),
            "timestamp": timezone.now() - timedelta(minutes=5),
            "model_name": "openai/gpt-oss-20b",
            "status": LLMRequestLog.Status.SUCCESS,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "latency_ms": 500.0,
            "cost_estimate": Decimal("0.000023"),
            "prompt_text": "Hello?",
            "response_text": "Hi.",
        }
        values.update(fields)
        return LLMRequestLog.objects.create(**values)

    return make


@pytest.fixture(autouse=True)
def _isolated_spool(settings, tmp_path):
    """Every test gets its own spool file, so no test writes into (or reads) the developer's logs/."""
    settings.LLM_SPOOL_PATH = tmp_path / "spool" / "unsaved_calls.jsonl"
    return settings.LLM_SPOOL_PATH


@pytest.fixture(autouse=True)
def _closed_log_connections():
    """A call inside a caller's transaction opens a second connection (llm.calls.persist.log_alias); an open one
    would stop PostgreSQL from dropping the test database."""
    yield
    from llm.calls.persist import close_log_connections

    close_log_connections()


@pytest.fixture
def fake_groq(settings):
    """A running FakeGroq (llm/tests/fakegroq.py); settings.GROQ_BASE_URL points at it.

    Script it with fake_groq.reply_completion / reply_stream / reply_error / reply_raw / reply_drop;
    read what the SDK sent in fake_groq.requests.
    """
    from llm.sources.groq import groq_service
    from llm.tests.fakegroq import FakeGroq

    with FakeGroq() as server:
        settings.GROQ_BASE_URL = server.url
        groq_service.reset()
        yield server
    groq_service.reset()


@pytest.fixture
def ingest_key(db, alice):
    """(IngestKey, secret) created by alice."""
    from llm.sources.ingest import ingest_key_create

    return ingest_key_create(name="checkout-service", created_by=alice)


@pytest.fixture
def ingest_secret(ingest_key):
    return ingest_key[1]


@pytest.fixture
def clean_change_marks(db):
    """No rollup change marks left by earlier tests: the flush after a transactional test deletes their calls,
    and the calls table's delete trigger marks those hours again after the marks table was emptied."""
    from llm.models import ChangedHour

    ChangedHour.objects.all().delete()

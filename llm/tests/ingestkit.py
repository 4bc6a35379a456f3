"""Fixtures and helpers shared by the ingest test modules (imported by them, not a conftest)."""
import pytest

from llm.sources.ingest import ingest_key_create


@pytest.fixture
def ingest_key(db, alice):
    """(IngestKey, secret) created by alice."""
    return ingest_key_create(name="checkout-service", created_by=alice)


@pytest.fixture
def ingest_secret(ingest_key):
    return ingest_key[1]


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

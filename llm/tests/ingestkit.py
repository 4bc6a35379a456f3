"""Helpers shared by the ingest test modules (the ingest_key and ingest_secret fixtures are in conftest.py)."""


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

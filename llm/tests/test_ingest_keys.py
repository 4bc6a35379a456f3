"""Ingest keys: created with a secret shown once, stored as a hash, revocable, good for ingesting only."""

import hashlib
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.urls import path
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from llm.api.authentication import IngestKeyAuthentication
from llm.api.views.ingest import IngestView
from llm.models import IngestKey
from llm.sources.ingest import ingest_key_create, ingest_key_find, ingest_key_revoke
from llm.tests.ingestkit import bearer

pytestmark = pytest.mark.django_db


class ProtectedView(APIView):
    """Stands for every other API endpoint: the project's default authentication and permissions."""

    def get(self, request):
        return Response({"secret": "logs"})


# This module doubles as a URLconf for the tests marked with it.
urlpatterns = [
    path("api/ingest/", IngestView.as_view()),
    path("api/logs/", ProtectedView.as_view()),
]


def test_it_stores_only_a_hash_of_the_secret(alice):
    key, secret = ingest_key_create(name="billing", created_by=alice)

    key.refresh_from_db()
    assert secret.startswith("llmo_") and len(secret) > 40
    assert key.prefix == secret[:12]
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {key.name, key.prefix, key.key_hash}
    assert (key.name, key.created_by, key.revoked_at) == ("billing", alice, None)


def test_it_gives_every_key_its_own_secret_and_prefix():
    secrets = [ingest_key_create(name=f"k{i}")[1] for i in range(5)]

    assert len(set(secrets)) == 5
    assert IngestKey.objects.values("prefix").distinct().count() == 5


def test_it_finds_a_key_by_its_secret_only(ingest_key):
    key, secret = ingest_key

    assert ingest_key_find(secret=secret) == key
    assert ingest_key_find(secret=secret + "x") is None
    assert ingest_key_find(secret=secret[:12] + "A" * 31) is None
    assert ingest_key_find(secret="not-a-key") is None
    assert ingest_key_find(secret="") is None


def test_it_revokes_a_key_once(ingest_key):
    key, _ = ingest_key
    with time_machine.travel(datetime(2026, 5, 1, tzinfo=UTC), tick=False):
        ingest_key_revoke(key=key)
    ingest_key_revoke(key=key)

    key.refresh_from_db()
    assert key.revoked_at == datetime(2026, 5, 1, tzinfo=UTC)
    assert not key.is_active


def test_it_records_when_a_key_was_last_used_at_most_once_a_minute(ingest_key):
    key, secret = ingest_key
    start = datetime(2026, 5, 1, 12, tzinfo=UTC)
    for offset in (0, 30, 90):
        with time_machine.travel(start + timedelta(seconds=offset), tick=False):
            # An empty batch is a 400, but only after the key was checked and marked used.
            APIClient().post("/api/ingest/", data={"events": []}, format="json", **bearer(secret))
            key.refresh_from_db()
            seen = key.last_used_at
        if offset == 30:
            assert seen == start
    assert seen == start + timedelta(seconds=90)


# --- The command -------------------------------------------------------------------------


def test_it_prints_the_secret_alone_on_the_last_line(alice):
    out = StringIO()

    call_command("create_ingest_key", "checkout prod", "--user", "alice", stdout=out)

    lines = out.getvalue().rstrip("\n").split("\n")
    key = IngestKey.objects.get()
    assert lines[-1].startswith("llmo_")
    assert ingest_key_find(secret=lines[-1]) == key
    assert (key.name, key.created_by) == ("checkout prod", alice)
    assert key.prefix in lines[0]


def test_it_refuses_an_unknown_user():
    with pytest.raises(CommandError, match="No user named 'bob'"):
        call_command("create_ingest_key", "x", "--user", "bob", stdout=StringIO())
    assert not IngestKey.objects.exists()


def test_it_refuses_a_blank_name():
    with pytest.raises(CommandError, match="NAME must be 1 to 200 characters"):
        call_command("create_ingest_key", "  ", stdout=StringIO())


# --- A key grants nothing else ----------------------------------------------------------


@pytest.mark.urls("llm.tests.test_ingest_keys")
def test_it_cannot_read_other_endpoints_with_an_ingest_key(ingest_secret, alice_token):
    assert APIClient().get("/api/logs/", **bearer(ingest_secret)).status_code == 401
    assert APIClient().get("/api/logs/", HTTP_X_API_KEY=ingest_secret).status_code == 401
    # The same endpoint with a user's token works, so the 401 is the key's doing.
    assert APIClient().get("/api/logs/", HTTP_AUTHORIZATION=f"Token {alice_token}").json() == {"secret": "logs"}


def test_it_is_not_among_the_default_authentication_classes(settings):
    defaults = settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]

    assert f"{IngestKeyAuthentication.__module__}.{IngestKeyAuthentication.__name__}" not in defaults


def test_it_refuses_a_malformed_authorization_header(ingest_secret):
    response = APIClient().post(
        "/api/ingest/", data={"events": []}, format="json", HTTP_AUTHORIZATION=f"Bearer {ingest_secret} extra"
    )

    assert response.status_code == 401
    assert response.json()["error"] == "Malformed Authorization header; use 'Bearer <ingest key>'."

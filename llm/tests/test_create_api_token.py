"""python manage.py create_api_token <username>."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db


def _run(*args) -> str:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def test_it_prints_a_working_token_alone_on_the_last_line(alice, api_client):
    key = _run("alice")
    assert key == Token.objects.get(user=alice).key
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api_client.get("/api/metrics/overview/").status_code == 200


def test_it_reuses_the_token_and_rotates_on_request(alice):
    first = _run("alice")
    assert _run("alice") == first
    rotated = _run("alice", "--rotate")
    assert rotated != first
    assert list(Token.objects.filter(user=alice).values_list("key", flat=True)) == [rotated]


def test_it_fails_with_one_line_for_an_unknown_or_inactive_user(alice):
    with pytest.raises(CommandError, match="No user named 'bob'"):
        _run("bob")
    alice.is_active = False
    alice.save()
    with pytest.raises(CommandError, match="inactive"):
        _run("alice")
    assert Token.objects.count() == 0

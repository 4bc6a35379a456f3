"""First-run helpers used by `make run`: the local .env writer and ensure_admin."""
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from core import localenv


@pytest.mark.django_db
def test_it_creates_the_first_admin_with_the_given_password(monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", "from-the-env-123")
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("from-the-env-123")
    assert "from-the-env-123" not in out.getvalue()


@pytest.mark.django_db
def test_it_prints_a_generated_password_once(monkeypatch):
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    password = out.getvalue().strip().rsplit(" ", 1)[-1]
    assert get_user_model().objects.get(username="admin").check_password(password)
    again = StringIO()
    call_command("ensure_admin", stdout=again)
    assert again.getvalue() == ""
    assert get_user_model().objects.count() == 1


def test_it_writes_a_local_env_with_debug_and_a_fresh_key(tmp_path, monkeypatch, capsys):
    (tmp_path / ".env.example").write_text(
        "DEBUG=False\nDJANGO_SECRET_KEY=\nGROQ_API_KEY=\nALERT_EMAIL_RECIPIENTS=\nSITE_URL=http://127.0.0.1:8000\n"
    )
    monkeypatch.setattr(localenv, "BASE_DIR", tmp_path)
    monkeypatch.setenv("PORT", "8811")
    assert localenv.main() == 0
    lines = (tmp_path / ".env").read_text().splitlines()
    assert lines[0] == "DEBUG=True"
    assert lines[1].startswith("DJANGO_SECRET_KEY=") and len(lines[1]) > 50
    assert lines[2:] == ["GROQ_API_KEY=", "ALERT_EMAIL_RECIPIENTS=oncall@localhost", "SITE_URL=http://127.0.0.1:8811"]


def test_it_never_overwrites_an_existing_env(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("DEBUG=False\n")
    monkeypatch.setattr(localenv, "BASE_DIR", tmp_path)
    localenv.main()
    assert (tmp_path / ".env").read_text() == "DEBUG=False\n"

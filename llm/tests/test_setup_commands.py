"""First-run helpers used by `make run`: the local .env writer and ensure_admin."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

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
    first, hint = out.getvalue().splitlines()
    password = first.rsplit(" ", 1)[-1]
    assert first == f"Created admin user 'admin' with password: {password}"
    assert hint == "Lost it? `.venv/bin/python manage.py ensure_admin --reset-password` sets a new one."
    assert get_user_model().objects.get(username="admin").check_password(password)
    again = StringIO()
    call_command("ensure_admin", stdout=again)
    assert again.getvalue() == ""
    assert get_user_model().objects.count() == 1


@pytest.mark.django_db
def test_it_resets_the_admin_password_to_a_new_one_printed_once(monkeypatch):
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    first = StringIO()
    call_command("ensure_admin", stdout=first)
    lost = first.getvalue().splitlines()[0].rsplit(" ", 1)[-1]
    out = StringIO()

    call_command("ensure_admin", "--reset-password", stdout=out)

    password = out.getvalue().strip().rsplit(" ", 1)[-1]
    assert out.getvalue().splitlines() == [f"New password for 'admin': {password}"]
    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password(password) and not admin.check_password(lost)
    assert get_user_model().objects.count() == 1


@pytest.mark.django_db
def test_it_resets_a_password_to_admin_password_without_printing_it(monkeypatch, admin_user):
    monkeypatch.setenv("ADMIN_PASSWORD", "reset-from-env-456")
    out = StringIO()

    call_command("ensure_admin", "--reset-password", "--username", "root", stdout=out)

    assert out.getvalue() == "Set the password of 'root' from ADMIN_PASSWORD.\n"
    admin_user.refresh_from_db()
    assert admin_user.check_password("reset-from-env-456")


@pytest.mark.django_db
def test_it_refuses_to_reset_the_password_of_an_unknown_user(admin_user):
    with pytest.raises(CommandError) as caught:
        call_command("ensure_admin", "--reset-password", "--username", "nobody", stdout=StringIO())

    assert str(caught.value) == "No user named 'nobody'; pick one with --username"
    admin_user.refresh_from_db()
    assert admin_user.check_password("pw-root-1")


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

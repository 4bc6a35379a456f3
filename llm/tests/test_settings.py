"""Settings come from the environment and fail loudly, naming the variable, when malformed."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DEBUG": "False",
    "DJANGO_SECRET_KEY": "a-real-looking-production-secret-key-0123456789-abcdefghijklmnop",
    "ALLOWED_HOSTS": "llm.example.com",
    "GROQ_API_KEY": "gsk_production_key_for_the_check_only",
}


def run_django(env_overrides: dict, code: str = "import django; django.setup(); print('ok')", args=None):
    env = {k: v for k, v in os.environ.items() if k not in _OUR_VARIABLES}
    env.update({"DJANGO_SETTINGS_MODULE": "core.settings", "PYTHONPATH": str(BASE_DIR)})
    env.update(env_overrides)
    command = args or [sys.executable, "-c", code]
    return subprocess.run(command, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60)


def read_env_example_names() -> set[str]:
    text = (BASE_DIR / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.M))


def read_settings_names() -> set[str]:
    source = (BASE_DIR / "core" / "settings.py").read_text()
    return set(re.findall(r"env_[a-z_]+\(\s*\"([A-Z][A-Z0-9_]+)\"", source))


_OUR_VARIABLES = read_settings_names() | {"ADMIN_PASSWORD"}


def test_it_lists_every_variable_settings_read_in_env_example():
    assert read_settings_names() - read_env_example_names() == set()
    # And nothing nobody reads, apart from the first-run admin password.
    assert read_env_example_names() - read_settings_names() == {"ADMIN_PASSWORD"}


def test_it_starts_with_production_values():
    result = run_django(PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_it_refuses_to_start_without_secret_key_when_not_debug():
    result = run_django({**PRODUCTION_ENV, "DJANGO_SECRET_KEY": ""})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_it_generates_a_dev_secret_key_when_debug():
    result = run_django(
        {"DEBUG": "true", "DJANGO_SECRET_KEY": ""},
        "import django; django.setup(); from django.conf import settings; print(len(settings.SECRET_KEY) > 40)",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("DEBUG", "maybe", "DEBUG must be a boolean"),
        ("GROQ_TIMEOUT", "soon", "GROQ_TIMEOUT must be a number"),
        ("GROQ_TIMEOUT", "0", "GROQ_TIMEOUT must be at least 0.1"),
        ("GROQ_MAX_RETRIES", "two", "GROQ_MAX_RETRIES must be an integer"),
        ("EMAIL_PORT", "70000", "EMAIL_PORT must be at most 65535"),
        ("EMAIL_USE_TLS", "sometimes", "EMAIL_USE_TLS must be a boolean"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be one of"),
        ("CORS_ALLOWED_ORIGINS", "example.com", "CORS_ALLOWED_ORIGINS entries must look like"),
        ("CSRF_TRUSTED_ORIGINS", "https://x.example.com/path", "CSRF_TRUSTED_ORIGINS entries must look like"),
        ("DATABASE_URL", "nosuchdb://x", "DATABASE_URL is not a valid database URL"),
        ("SECURE_PROXY_SSL_HEADER", "HTTP_X_FORWARDED_PROTO", "SECURE_PROXY_SSL_HEADER must be"),
        ("LLM_LOG_MAX_TEXT_CHARS", "-5", "LLM_LOG_MAX_TEXT_CHARS must be at least"),
        ("GROQ_BASE_URL", "api.groq.com", "GROQ_BASE_URL must be an http(s) URL"),
    ],
)
def test_it_fails_at_startup_naming_a_malformed_variable(name, value, message):
    result = run_django({**PRODUCTION_ENV, name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def env_example_as_make_run_loads_it() -> dict:
    """The variables of the real .env.example, exported the way python-dotenv exports them
    (empty lines such as `GROQ_BASE_URL=` become empty strings), plus the two that
    `make run` fills in and the key a user then pastes."""
    from dotenv import dotenv_values

    values = {name: value or "" for name, value in dotenv_values(BASE_DIR / ".env.example").items()}
    assert values.get("GROQ_BASE_URL") == "", "the test assumes .env.example leaves GROQ_BASE_URL empty"
    values.update({"DEBUG": "True", "DJANGO_SECRET_KEY": "x" * 50, "GROQ_API_KEY": "gsk_a_real_users_key"})
    return values


def test_it_sends_calls_to_groq_with_the_env_example_as_shipped():
    result = run_django(
        env_example_as_make_run_loads_it(),
        "import django; django.setup(); from llm.sources.groq import groq_service; print(groq_service.client.base_url)",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "https://api.groq.com"


def test_it_reaches_the_server_named_by_groq_base_url_through_the_real_sdk(fake_groq):
    env = {**env_example_as_make_run_loads_it(), "GROQ_BASE_URL": fake_groq.url, "DATABASE_URL": ""}
    code = (
        "import django; django.setup(); from llm.sources.groq import groq_service; "
        "print(groq_service.client.chat.completions.create(model='llama-3.1-8b-instant', "
        "messages=[{'role': 'user', 'content': 'hi'}]).choices[0].message.content is not None)"
    )
    result = run_django(env, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
    assert len(fake_groq.requests) == 1


def test_it_names_a_malformed_variable_in_one_line_from_manage_py():
    result = run_django({**PRODUCTION_ENV, "DEBUG": "maybe"}, args=[sys.executable, "manage.py", "check"])
    assert result.returncode == 1
    assert result.stderr.strip() == "Configuration error: DEBUG must be a boolean (true/false), got 'maybe'"


def test_it_parses_comma_separated_lists():
    result = run_django(
        {**PRODUCTION_ENV, "ALLOWED_HOSTS": "a.example.com, b.example.com",
         "CORS_ALLOWED_ORIGINS": "https://app.example.com,http://localhost:3000",
         "ALERT_EMAIL_RECIPIENTS": "x@example.com,y@example.com"},
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.ALLOWED_HOSTS, s.CORS_ALLOWED_ORIGINS, s.ALERT_EMAIL_RECIPIENTS)",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "['a.example.com', 'b.example.com'] ['https://app.example.com', 'http://localhost:3000'] "
        "['x@example.com', 'y@example.com']"
    )


def test_it_passes_check_deploy_with_production_values():
    result = run_django(
        PRODUCTION_ENV, args=[sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_it_lets_https_settings_be_turned_off_for_plain_http():
    result = run_django(
        {**PRODUCTION_ENV, "SECURE_SSL_REDIRECT": "false", "SESSION_COOKIE_SECURE": "false"},
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS)",
    )
    assert result.stdout.strip() == "False False True 31536000"


def test_it_warns_through_a_system_check_when_groq_key_is_missing():
    result = run_django({**PRODUCTION_ENV, "GROQ_API_KEY": ""}, args=[sys.executable, "manage.py", "check"])
    assert "llm.W001" in result.stderr + result.stdout
    assert "GROQ_API_KEY is not set" in result.stderr + result.stdout


def test_it_uses_utc():
    assert settings.USE_TZ is True
    assert settings.TIME_ZONE == "UTC"


@pytest.mark.django_db
def test_it_runs_sqlite_in_wal_mode_with_a_busy_timeout():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    assert settings.DATABASES["default"]["OPTIONS"]["timeout"] == 20
    # The in-memory test database cannot be WAL; check the pragma on a file database.
    code = (
        "import django; django.setup(); from django.db import connection; c = connection.cursor(); "
        "c.execute('PRAGMA journal_mode'); print(c.fetchone()[0])"
    )
    result = run_django({**PRODUCTION_ENV, "DATABASE_URL": "sqlite:////tmp/llmo-wal-check.sqlite3"}, code)
    assert result.stdout.strip() == "wal", result.stderr

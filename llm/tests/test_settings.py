"""Settings come from the environment and fail loudly, naming the variable, when malformed."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
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


def _clean_env(env_overrides: dict) -> dict:
    """This process's environment without any variable settings read, plus `env_overrides`."""
    env = {k: v for k, v in os.environ.items() if k not in _OUR_VARIABLES}
    env.update({"DJANGO_SETTINGS_MODULE": "core.settings", "PYTHONPATH": str(BASE_DIR)})
    env.update(env_overrides)
    return env


def run_django(env_overrides: dict, code: str = "import django; django.setup(); print('ok')", args=None):
    command = args or [sys.executable, "-c", code]
    return subprocess.run(
        command, cwd=BASE_DIR, env=_clean_env(env_overrides), capture_output=True, text=True, timeout=60
    )


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
        {
            **PRODUCTION_ENV,
            "ALLOWED_HOSTS": "a.example.com, b.example.com",
            "CORS_ALLOWED_ORIGINS": "https://app.example.com,http://localhost:3000",
            "ALERT_EMAIL_RECIPIENTS": "x@example.com,y@example.com",
        },
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


def test_it_warns_about_a_missing_groq_key_in_check_deploy_only():
    env = {**PRODUCTION_ENV, "GROQ_API_KEY": ""}

    plain = run_django(env, args=[sys.executable, "manage.py", "check"])
    deploy = run_django(env, args=[sys.executable, "manage.py", "check", "--deploy"])

    assert plain.returncode == 0, plain.stderr
    assert plain.stdout + plain.stderr == "System check identified no issues (0 silenced).\n"
    assert deploy.returncode == 0, deploy.stderr
    output = deploy.stdout + deploy.stderr
    assert "?: (llm.W001) GROQ_API_KEY is not set" in output
    assert "add GROQ_API_KEY=gsk_... to the project's .env file" in output
    assert "System check identified 1 issue (0 silenced)." in output


def local_env(tmp_path, **overrides) -> dict:
    """What `make run` gives manage.py: DEBUG on, a generated secret key, no Groq key yet, its own SQLite file."""
    values = {
        "DEBUG": "True",
        "DJANGO_SECRET_KEY": "x" * 50,
        "GROQ_API_KEY": "",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
    }
    return {**values, **overrides}


def test_it_says_nothing_about_the_groq_key_while_make_run_sets_up(tmp_path):
    for command in (["check_database"], ["migrate", "--noinput"], ["ensure_admin"]):
        result = run_django(local_env(tmp_path), args=[sys.executable, "manage.py", *command])
        assert result.returncode == 0, result.stderr
        assert "GROQ_API_KEY" not in result.stdout + result.stderr, command


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def runserver_output_until_ready(env: dict, log: Path) -> str:
    """Start `manage.py runserver` as `make run` does (with the autoreloader), return everything it printed
    up to its "Quit the server" line, and stop it (the reloader and its child)."""
    port = free_port()
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"]
    with log.open("w") as out:
        server = subprocess.Popen(
            command, cwd=BASE_DIR, env=_clean_env(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        # A child that fails to start leaves the reloader waiting for a change, so stop at a traceback too.
        while not any(line in log.read_text() for line in ("Quit the server with", "Traceback")):
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        return log.read_text()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)


@pytest.mark.parametrize("key, warnings", [("", 1), ("gsk_a_real_users_key", 0)])
def test_it_warns_about_a_missing_groq_key_once_when_runserver_starts(tmp_path, key, warnings):
    output = runserver_output_until_ready(local_env(tmp_path, GROQ_API_KEY=key), tmp_path / "runserver.log")

    assert "Quit the server with" in output
    assert output.count("llm.W001") == warnings
    assert output.count("GROQ_API_KEY is not set") == warnings


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

"""manage.py check_database (run by `make run` before migrate): one line instead of a driver traceback."""

import os
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from core.dbcheck import database_problem

BASE = Path(__file__).resolve().parents[2]
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs a PostgreSQL server")


@pytest.mark.django_db
def test_it_is_silent_when_the_database_works():
    out = StringIO()
    call_command("check_database", stdout=out)
    assert out.getvalue() == ""


def test_it_names_a_missing_sqlite_directory(tmp_path):
    path = tmp_path / "missing" / "db.sqlite3"

    problem = database_problem(settings_dict={"ENGINE": "django.db.backends.sqlite3", "NAME": path})

    assert problem == (
        f"SQLite database {path}: the directory {path.parent} does not exist; create it or fix DATABASE_URL"
    )


@pytest.mark.django_db
@on_postgresql
def test_it_says_how_to_create_a_missing_postgresql_database():
    settings_dict = {**connection.settings_dict, "NAME": "llmobs_never_created", "PASSWORD": "do-not-print"}
    where = settings_dict["HOST"] + (f":{settings_dict['PORT']}" if settings_dict["PORT"] else "")
    options = " ".join(
        f"{option} {settings_dict[key]}"
        for option, key in (("-h", "HOST"), ("-p", "PORT"), ("-U", "USER"))
        if settings_dict[key]
    )

    problem = database_problem(settings_dict=settings_dict)

    assert problem == (
        f"Database 'llmobs_never_created' does not exist on {where}: "
        f"create it with createdb {options} llmobs_never_created"
    )


@pytest.mark.django_db
def test_it_gives_the_drivers_reason_when_postgresql_cannot_be_reached():
    # Port 1 on the loopback: nothing listens there, so the refusal is immediate on any machine.
    settings_dict = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "llmobs",
        "USER": "postgres",
        "PASSWORD": "do-not-print",
        "HOST": "127.0.0.1",
        "PORT": "1",
    }

    problem = database_problem(settings_dict=settings_dict)

    assert problem.startswith("Cannot connect to PostgreSQL database 'llmobs' on 127.0.0.1:1: ")
    assert "refused" in problem.lower()
    assert "\n" not in problem
    assert "do-not-print" not in problem


def test_it_fails_with_one_line_and_a_non_zero_exit(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check_database"],
        cwd=BASE,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/missing/db.sqlite3"},
    )

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"CommandError: SQLite database {tmp_path}/missing/db.sqlite3: the directory {tmp_path}/missing "
        "does not exist; create it or fix DATABASE_URL"
    )


def test_it_runs_before_migrate_in_make_run():
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    # -n prints the recipes without running them.
    result = subprocess.run(["make", "-n", "migrate"], cwd=BASE, capture_output=True, text=True, timeout=60)
    commands = [line for line in result.stdout.splitlines() if "manage.py" in line]

    assert [line.split("manage.py ")[1] for line in commands][:2] == ["check_database", "migrate --noinput"]

"""Say in one line why the configured database cannot be used, before `migrate` fails with a traceback.

`make run` calls it (through `manage.py check_database`) right before migrating, so a newcomer whose
DATABASE_URL names a database that was never created reads the `createdb` command to type, not a
psycopg2 stack trace.
"""

import re
import shlex
from pathlib import Path

from django.db import DatabaseError
from django.db.utils import ConnectionHandler

# psycopg2 starts its messages with where it tried to connect; our own line already says so.
_DRIVER_PREFIX = re.compile(r"^connection to server (at|on) .*? failed: (FATAL:\s+)?")


def database_problem(*, settings_dict: dict) -> str | None:
    """One line saying why this database (a DATABASES entry) cannot be connected to; None when it can."""
    if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
        problem = _sqlite_problem(settings_dict["NAME"])
        if problem:
            return problem
    connection = _connection(settings_dict)
    try:
        connection.ensure_connection()
    except DatabaseError as exc:
        return _explain(settings_dict, exc)
    finally:
        connection.close()
    return None


def _connection(settings_dict: dict):
    # A handler of its own: the check must not leave a broken connection behind in django.db.connections.
    return ConnectionHandler({"default": dict(settings_dict)})["default"]


def _sqlite_problem(name) -> str | None:
    path = Path(str(name))
    if str(name).startswith("file:") or str(name) == ":memory:":
        return None
    if not path.parent.is_dir():
        return f"SQLite database {path}: the directory {path.parent} does not exist; create it or fix DATABASE_URL"
    return None


def _explain(settings_dict: dict, exc: Exception) -> str:
    reason = " ".join(str(exc).split("\n")[0].split())
    if settings_dict["ENGINE"] != "django.db.backends.postgresql":
        return f"Cannot open the database {settings_dict['NAME']!r}: {reason}"
    name, where = settings_dict["NAME"], _where(settings_dict)
    if _postgres_database_missing(settings_dict):
        return f"Database {name!r} does not exist on {where}: create it with {_createdb(settings_dict)}"
    return f"Cannot connect to PostgreSQL database {name!r} on {where}: {_DRIVER_PREFIX.sub('', reason)}"


def _postgres_database_missing(settings_dict: dict) -> bool:
    """Asked of the server rather than read from the error text, which is translated on some servers."""
    maintenance = _connection({**settings_dict, "NAME": "postgres"})
    try:
        with maintenance.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [settings_dict["NAME"]])
            return cursor.fetchone() is None
    except DatabaseError:
        return False  # Server down or no access to it: the driver's own reason is the better line.
    finally:
        maintenance.close()


def _where(settings_dict: dict) -> str:
    host = settings_dict.get("HOST") or "the local socket"
    port = settings_dict.get("PORT")
    return f"{host}:{port}" if port else host


def _createdb(settings_dict: dict) -> str:
    words = ["createdb"]
    for option, key in (("-h", "HOST"), ("-p", "PORT"), ("-U", "USER")):
        if settings_dict.get(key):
            words += [option, str(settings_dict[key])]
    words.append(settings_dict["NAME"])
    return " ".join(shlex.quote(word) for word in words)

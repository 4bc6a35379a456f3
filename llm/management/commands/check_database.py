from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from core.dbcheck import database_problem


class Command(BaseCommand):
    help = (
        "Connect to the configured database and say in one line why that fails (e.g. a PostgreSQL database "
        "that was never created); silent when it works. `make run` runs it before migrating."
    )
    # The system checks have nothing to say about a database that cannot be reached.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="the DATABASES alias to check")

    def handle(self, *args, database, **options):
        if database not in connections.settings:
            raise CommandError(f"--database {database}: no such entry in DATABASES")
        problem = database_problem(settings_dict=connections.settings[database])
        if problem:
            raise CommandError(problem)

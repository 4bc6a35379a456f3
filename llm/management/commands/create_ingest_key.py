from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from llm.sources.ingest import ingest_key_create


class Command(BaseCommand):
    help = "Create an ingest key for an application; its secret is printed once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("name", help="What the key is for, e.g. 'checkout-service prod'.")
        parser.add_argument("--user", help="Username recorded as the key's creator.")

    def handle(self, *args, name, user, **options):
        name = name.strip()
        if not name or len(name) > 200:
            raise CommandError("NAME must be 1 to 200 characters.")
        creator = None
        if user:
            creator = get_user_model().objects.filter(username=user).first()
            if creator is None:
                raise CommandError(f"No user named {user!r}.")
        key, secret = ingest_key_create(name=name, created_by=creator)
        self.stdout.write(
            f"Created ingest key '{key.name}' ({key.prefix}…). Store the secret now; it is not shown again:"
        )
        # Alone on the last line, so scripts can capture it with `| tail -n 1`.
        self.stdout.write(secret)

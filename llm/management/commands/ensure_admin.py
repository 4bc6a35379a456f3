import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

RESET_HINT = "Lost it? `.venv/bin/python manage.py ensure_admin --reset-password` sets a new one."


class Command(BaseCommand):
    help = (
        "Create the first admin user if no superuser exists (password from ADMIN_PASSWORD, else generated "
        "and printed once). --reset-password gives an existing user a new password the same way."
    )
    # Run by `make run` right after migrate, which has just shown the same warnings.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--reset-password",
            action="store_true",
            help="set a new password for --username (ADMIN_PASSWORD, else a generated one printed once)",
        )

    def handle(self, *args, username, reset_password, **options):
        User = get_user_model()
        given = os.environ.get("ADMIN_PASSWORD")
        # Shown once; it is not stored anywhere in clear text.
        password = given or secrets.token_urlsafe(12)
        if reset_password:
            user = User.objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"No user named {username!r}; pick one with --username")
            user.set_password(password)
            user.save(update_fields=["password"])
            if given:
                self.stdout.write(f"Set the password of '{username}' from ADMIN_PASSWORD.")
            else:
                self.stdout.write(f"New password for '{username}': {password}")
            return
        if User.objects.filter(is_superuser=True).exists():
            return
        User.objects.create_superuser(username=username, email="", password=password)
        if given:
            self.stdout.write(f"Created admin user '{username}' with the password from ADMIN_PASSWORD.")
        else:
            self.stdout.write(f"Created admin user '{username}' with password: {password}")
            self.stdout.write(RESET_HINT)

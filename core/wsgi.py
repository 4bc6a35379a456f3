"""WSGI entry point: `gunicorn core.wsgi:application`."""

import os
import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

try:
    application = get_wsgi_application()
except ImproperlyConfigured as exc:
    # gunicorn would print a traceback and "Worker failed to boot"; say what is wrong instead.
    sys.exit(f"Configuration error: {exc}")

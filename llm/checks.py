"""The llm app's configuration checks (ids llm.*), registered in LlmConfig.ready()."""

import sys

from django.conf import settings
from django.core import checks


def check_groq_settings(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """llm.W001 when GROQ_API_KEY is empty, else nothing.

    A deployment check: a server that only ingests needs no key, so migrate and the other commands say
    nothing; `check --deploy` says it, and runserver through check_groq_settings_in_runserver.
    """
    if settings.GROQ_API_KEY:
        return []
    return [
        checks.Warning(
            "GROQ_API_KEY is not set",
            hint="Calls through groq_service and the Playground fail with a configuration error until it is set; "
            "ingest and the dashboard still work. Create a key at console.groq.com, add GROQ_API_KEY=gsk_... to "
            "the project's .env file or to the server's environment, and restart the server.",
            id="llm.W001",
        )
    ]


def check_groq_settings_in_runserver(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """check_groq_settings' messages when the command is runserver (someone is about to open the
    Playground), else nothing."""
    # An llm runserver command would never run: whitenoise's runserver wins (INSTALLED_APPS order) and
    # extends staticfiles'. So the command is read where ManagementUtility reads it, argv[1].
    if sys.argv[1:2] != ["runserver"]:
        return []
    return check_groq_settings(app_configs)

from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class LlmConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "llm"
    verbose_name = "LLM observability"

    def ready(self):
        checks.register(check_groq_settings)


def check_groq_settings(app_configs, **kwargs):
    """Configuration problems as system checks, visible in `manage.py check` and at start-up."""
    messages = []
    if not settings.GROQ_API_KEY:
        messages.append(
            checks.Warning(
                "GROQ_API_KEY is not set",
                hint="Calls through groq_service and the Playground fail with a configuration "
                "error until it is set; ingest and the dashboard still work.",
                id="llm.W001",
            )
        )
    return messages

from django.apps import AppConfig
from django.core import checks

from llm.checks import check_groq_settings, check_groq_settings_in_runserver


class LlmConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "llm"
    verbose_name = "LLM observability"

    def ready(self):
        checks.register(check_groq_settings, deploy=True)
        checks.register(check_groq_settings_in_runserver)

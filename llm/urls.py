"""URLs of the REST API, mounted at /api/ by core/urls.py. Paths are the public contract."""
from django.urls import path

from llm.views.prompt import PromptView

app_name = "api"

urlpatterns = [
    path("llm/prompt/", PromptView.as_view(), name="llm-prompt"),
]

"""URLs of the REST API, mounted at /api/ by core/urls.py. Paths are the public contract."""
from django.urls import path

app_name = "api"

urlpatterns = [
]

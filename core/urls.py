from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("llm.urls")),
    path("", include("llm.urls_pages")),
]

"""URLs of the dashboard pages, mounted at the site root by core/urls.py."""

from django.urls import path

from llm.dashboard import pages, urls_people, urls_traces

urlpatterns = [
    path("", pages.overview, name="overview"),
    path("analytics/", pages.analytics, name="analytics"),
    path("logs/", pages.logs, name="logs"),
    path("logs/<uuid:request_id>/", pages.log_detail, name="log-detail"),
    path("feedback/", pages.feedback, name="feedback"),
    path("alerts/", pages.alerts, name="alerts"),
    path("playground/", pages.playground, name="playground"),
    path("login/", pages.LoginView.as_view(), name="login"),
    path("logout/", pages.LogoutView.as_view(), name="logout"),
]
urlpatterns += urls_traces.urlpatterns + urls_people.urlpatterns

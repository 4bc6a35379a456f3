"""Session and end-user endpoints (/api/sessions/..., /api/users/...), added to llm.api.urls."""

from django.urls import path

from llm.api.views import people

# `path:` so that an id holding a "/" (sent as %2F, which arrives decoded) still reaches its view.
urlpatterns = [
    path("sessions/", people.SessionListView.as_view(), name="sessions"),
    path("sessions/<path:session_id>/", people.SessionDetailView.as_view(), name="session-detail"),
    path("users/", people.UserListView.as_view(), name="users"),
    path("users/<path:user_id>/", people.UserDetailView.as_view(), name="user-detail"),
]

"""Session and end-user pages (/sessions/..., /users/...), added to llm.dashboard.urls."""

from django.urls import path

from llm.dashboard import people

# `path:` so that an id holding a "/" (linked as %2F, which arrives decoded) still opens its page.
urlpatterns = [
    path("sessions/", people.sessions, name="sessions"),
    path("sessions/<path:session_id>/", people.session_detail, name="session-detail"),
    path("users/", people.users, name="users"),
    path("users/<path:user_id>/", people.user_detail, name="user-detail"),
]

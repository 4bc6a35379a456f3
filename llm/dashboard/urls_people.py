"""Session and end-user pages (/sessions/..., /users/...), added to llm.dashboard.urls."""

urlpatterns = []

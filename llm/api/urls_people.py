"""Session and end-user endpoints (/api/sessions/..., /api/users/...), added to llm.api.urls."""

urlpatterns = []

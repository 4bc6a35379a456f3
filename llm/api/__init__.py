"""The REST API: views, serializers, pagination, authentication and the one error shape."""

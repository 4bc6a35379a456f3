"""DRF serializers, one module per area (input/filter serializers apart from output ones)."""

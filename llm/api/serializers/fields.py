"""Field types shared by the output serializers."""

from rest_framework import serializers

from llm.models import COST_PLACES


class CostField(serializers.DecimalField):
    """USD with 6 places, rendered as a JSON number (not DRF's default string)."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=14, decimal_places=COST_PLACES, coerce_to_string=False, **kwargs)

"""The page envelope of llm.api.pagination.CappedCountPagination, declared for the schema."""

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from llm.api.pagination import COUNT_CAP


def capped_page(item: type[serializers.Serializer], *, name: str) -> serializers.Serializer:
    """`{count, count_is_exact, next, previous, results: [item]}` as a schema component called `name`."""
    return inline_serializer(
        name=name,
        fields={
            "count": serializers.IntegerField(
                help_text="Matching rows, or a lower bound when count_is_exact is false."
            ),
            "count_is_exact": serializers.BooleanField(help_text=f"False past {COUNT_CAP:,} matching rows."),
            "next": serializers.URLField(allow_null=True, help_text="The next page; null on the last one."),
            "previous": serializers.URLField(allow_null=True, help_text="The previous page; null on the first one."),
            "results": item(many=True),
        },
    )

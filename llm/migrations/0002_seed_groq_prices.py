"""Seed Groq's published on-demand prices (USD per million tokens).

Source: Groq's pricing page, list of 2026 (read 2026-11). The rows are dated
2020-01-01 so that they act as the baseline for every earlier call; a later
price change is a new row with a later effective_from, never an edit.
"""

from datetime import UTC, datetime
from decimal import Decimal

from django.db import migrations

BASELINE = datetime(2020, 1, 1, tzinfo=UTC)
NOTE = "Groq published price list, 2026"

# model, input, cached input (None: same as input), output
PRICES = [
    ("openai/gpt-oss-120b", "0.15", "0.075", "0.60"),
    ("openai/gpt-oss-20b", "0.075", "0.0375", "0.30"),
    ("llama-3.3-70b-versatile", "0.59", None, "0.79"),
    ("llama-3.1-8b-instant", "0.05", None, "0.08"),
    ("meta-llama/llama-4-scout-17b-16e-instruct", "0.11", None, "0.34"),
    ("qwen/qwen3-32b", "0.29", None, "0.59"),
]


def seed(apps, schema_editor):
    ModelPrice = apps.get_model("llm", "ModelPrice")
    for model, inp, cached, out in PRICES:
        ModelPrice.objects.get_or_create(
            provider="groq",
            model_name=model,
            effective_from=BASELINE,
            defaults={
                "input_per_million": Decimal(inp),
                "cached_input_per_million": Decimal(cached) if cached else None,
                "output_per_million": Decimal(out),
                "source_note": NOTE,
            },
        )


def unseed(apps, schema_editor):
    ModelPrice = apps.get_model("llm", "ModelPrice")
    ModelPrice.objects.filter(provider="groq", effective_from=BASELINE, source_note=NOTE).delete()


class Migration(migrations.Migration):
    dependencies = [("llm", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]

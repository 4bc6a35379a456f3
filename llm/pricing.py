"""Cost of a call, from the ModelPrice in effect at the call's time.

cost = ((prompt - cached) * input + cached * cached_input + completion * output) / 1e6, in USD,
rounded to 6 places. A model with no price at that time costs None ("unpriced"), never 0.
"""
from bisect import bisect_right
from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from llm.models import ModelPrice


class PriceBook:
    """All prices loaded once: for pricing many calls (batches, sample data, recompute) without a query each."""

    def __init__(self, prices=None):
        self._by_model: dict[tuple[str, str], list[ModelPrice]] = defaultdict(list)
        rows = ModelPrice.objects.order_by("effective_from") if prices is None else prices
        for price in sorted(rows, key=lambda p: p.effective_from):
            self._by_model[(price.provider, price.model_name)].append(price)
        self._starts = {key: [p.effective_from for p in ps] for key, ps in self._by_model.items()}

    def price_at(self, *, provider: str, model_name: str, at: datetime) -> ModelPrice | None:
        """The price in effect at `at`, or None when the model had none then."""
        key = (provider, model_name)
        index = bisect_right(self._starts.get(key, []), at)
        return self._by_model[key][index - 1] if index else None

    def cost(
        self,
        *,
        provider: str,
        model_name: str,
        at: datetime,
        prompt_tokens: int,
        completion_tokens: int,
        cached_prompt_tokens: int = 0,
    ) -> Decimal | None:
        """USD cost of one call, or None when the model is unpriced at `at`."""
        price = self.price_at(provider=provider, model_name=model_name, at=at)
        if price is None:
            return None
        return price.cost_of(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cached_prompt_tokens=cached_prompt_tokens,
        )


def price_at(*, provider: str, model_name: str, at: datetime) -> ModelPrice | None:
    """The single price row in effect for one call (one query)."""
    return (
        ModelPrice.objects.filter(provider=provider, model_name=model_name, effective_from__lte=at)
        .order_by("-effective_from")
        .first()
    )


def cost_for_call(
    *,
    provider: str,
    model_name: str,
    at: datetime,
    prompt_tokens: int,
    completion_tokens: int,
    cached_prompt_tokens: int = 0,
) -> Decimal | None:
    """USD cost of one call at the price in effect at `at`; None when unpriced."""
    price = price_at(provider=provider, model_name=model_name, at=at)
    if price is None:
        return None
    return price.cost_of(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cached_prompt_tokens=cached_prompt_tokens,
    )

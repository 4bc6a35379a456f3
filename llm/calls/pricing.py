"""Cost of a call, from the ModelPrice in effect at the call's time.

cost = ((prompt - cached) * input + cached * cached_input + completion * output) / 1e6, in USD,
rounded to 6 places. A model with no price at that time costs None ("unpriced"), never 0.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Q

from llm.models import ModelPrice

# metadata[COST_SOURCE_KEY] == COST_SOURCE_SENDER: the cost came with an ingested event, not from ModelPrice.
COST_SOURCE_KEY = "cost_source"
COST_SOURCE_SENDER = "sender"


class PriceBook:
    """All prices loaded once: for pricing many calls (batches, sample data, recompute) without a query each."""

    def __init__(self, prices=None):
        self._by_model: dict[tuple[str, str], list[ModelPrice]] = defaultdict(list)
        rows = ModelPrice.objects.order_by("effective_from") if prices is None else prices
        for price in sorted(rows, key=lambda p: p.effective_from):
            self._by_model[(price.provider, price.model_name)].append(price)
        self._starts = {key: [p.effective_from for p in ps] for key, ps in self._by_model.items()}

    @classmethod
    def for_models(cls, models: list[tuple[str, str]]) -> PriceBook:
        """The prices of these (provider, model) pairs only, in one query; every price when there are many."""
        pairs = set(models)
        if len(pairs) > 20:
            return cls()
        condition = Q()
        for provider, model_name in pairs:
            condition |= Q(provider=provider, model_name=model_name)
        return cls(ModelPrice.objects.filter(condition))

    @classmethod
    def for_rows(cls, rows: list) -> PriceBook:
        """The prices the unsaved `rows` need, in one query."""
        return cls.for_models([(row.provider, row.model_name) for row in rows])

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


@dataclass(frozen=True)
class RecomputeResult:
    examined: int  # calls looked at
    changed: int  # calls whose cost changed (or would, in a dry run)
    unpriced: int  # calls examined that still have no price
    cost_before: Decimal  # total of the changed calls before (unpriced counted as 0)
    cost_after: Decimal  # and after
    sender_kept: int = 0  # calls left alone because their sender gave the cost

    @property
    def difference(self) -> Decimal:
        return self.cost_after - self.cost_before


def recompute_costs(
    *,
    model_name: str | None = None,
    since: datetime | None = None,
    dry_run: bool = False,
    include_sender_costs: bool = False,
    batch_size: int = 2000,
) -> RecomputeResult:
    """Re-price stored calls from the current ModelPrice table (after a price was added or corrected).

    Only the cost column is rewritten, in batches walked by primary key (no texts are read). Calls whose
    usage is unknown (abandoned or broken streams) keep their null cost; calls whose sender gave the cost
    (metadata cost_source "sender") keep it unless `include_sender_costs`. `dry_run` writes nothing.
    """
    from llm.models import LLMRequestLog

    book = PriceBook()
    queryset = LLMRequestLog.objects.all()
    if model_name:
        queryset = queryset.filter(model_name=model_name)
    if since is not None:
        queryset = queryset.filter(timestamp__gte=since)
    columns = (
        "pk",
        "provider",
        "model_name",
        "timestamp",
        "prompt_tokens",
        "completion_tokens",
        "cached_prompt_tokens",
        "cost_estimate",
        "metadata__usage_unknown",
        f"metadata__{COST_SOURCE_KEY}",
    )
    examined = changed = unpriced = sender_kept = 0
    before = after = Decimal(0)
    last_pk = 0
    while True:
        batch = list(queryset.filter(pk__gt=last_pk).order_by("pk").values_list(*columns)[:batch_size])
        if not batch:
            break
        last_pk = batch[-1][0]
        updates = []
        for pk, provider, model, at, prompt, completion, cached, old, usage_unknown, cost_source in batch:
            if usage_unknown:
                continue
            if cost_source == COST_SOURCE_SENDER and not include_sender_costs:
                sender_kept += 1
                continue
            examined += 1
            new = book.cost(
                provider=provider,
                model_name=model,
                at=at,
                prompt_tokens=prompt,
                completion_tokens=completion,
                cached_prompt_tokens=cached,
            )
            unpriced += new is None
            if new != old:
                changed += 1
                before += old or 0
                after += new or 0
                updates.append(LLMRequestLog(pk=pk, cost_estimate=new))
        if updates and not dry_run:
            LLMRequestLog.objects.bulk_update(updates, ["cost_estimate"], batch_size=500)
    return RecomputeResult(
        examined=examined,
        changed=changed,
        unpriced=unpriced,
        cost_before=before,
        cost_after=after,
        sender_kept=sender_kept,
    )

"""The metric formulas every figure uses, defined once: the API, the pages, the alerts and their
backtests all call these, so an alert and the dashboard can never disagree on a number."""


def error_rate(*, errors: int, calls: int) -> float:
    """errors / calls × 100, to 2 decimals; 0.0 when there were no calls."""
    return percentage(part=errors, whole=calls)


def percentage(*, part: int, whole: int) -> float:
    """part / whole × 100, to 2 decimals; 0.0 when there is nothing to divide."""
    return round(part * 100 / whole, 2) if whole else 0.0


def token_spike_ratio(*, tokens: int, baseline: int | None) -> float | None:
    """Tokens in a window over tokens in the window of the same length before it, to 2 decimals.

    None without a baseline: any traffic after a silent window would be an "infinite" spike, which
    is noise, not news.
    """
    return round(tokens / baseline, 2) if baseline else None

"""Time alert checks and backtests on the current database (bounded: a few runs each).

    DATABASE_URL=... .venv/bin/python bench/bench_alerts.py     (or: make bench BENCH_ARGS=alerts)

Uses whatever calls are stored (e.g. generate_sample_data --count 300000 --days 30); creates unsaved
AlertRule objects only, and reads only, so it writes nothing.

Measured on 2 shared cores, 300,000 sample calls over 30 days (median of 5 reads / 3 backtests), ms:

                          PostgreSQL 15   SQLite 3.40
    read_metric, 60 min   1.3 - 1.5       0.6 - 0.9     (each of error_rate, token_spike, latency)
    backtest  7 d / 30 d  error_rate      164 / 304     32 / 166
                          token_spike     157 / 302     32 / 219
                          latency         331 / 664     145 / 598
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
os.environ.setdefault("DEBUG", "True")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.db.models import Max  # noqa: E402

from llm.alerts.backtest import backtest_rule  # noqa: E402
from llm.alerts.rules import read_metric  # noqa: E402
from llm.models import AlertRule, LLMRequestLog  # noqa: E402


def median_seconds(fn, runs=5):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    total = LLMRequestLog.objects.count()
    now = LLMRequestLog.objects.aggregate(last=Max("timestamp"))["last"]
    print(f"{connection.vendor}: {total} calls, newest {now:%Y-%m-%d %H:%M}")
    metric_types = [AlertRule.MetricType.ERROR_RATE, AlertRule.MetricType.TOKEN_SPIKE, AlertRule.MetricType.LATENCY]
    for metric_type in metric_types:
        rule = AlertRule(name=metric_type, metric_type=metric_type, threshold=1e9, time_window_minutes=60)
        read = median_seconds(lambda rule=rule: read_metric(rule=rule, now=now))
        print(f"read_metric {metric_type:12} 60 min window: {read * 1000:8.1f} ms")
        for days in (7, 30):
            backtest = median_seconds(lambda rule=rule, days=days: backtest_rule(rule=rule, days=days, now=now), runs=3)
            print(f"backtest    {metric_type:12} {days:2} days:         {backtest * 1000:8.1f} ms")


if __name__ == "__main__":
    main()

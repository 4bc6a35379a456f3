"""Alert rules: reading a metric, the ok/firing state machine, notifications and the backtest.

The public import for the command and the API views: `from llm import alerts`. The rules and
their metrics live in `rules`, the state machine and the live check in `state`, email and
webhooks in `notify`, the backtest in `backtest`.
"""

from llm.alerts.backtest import backtest_rule
from llm.alerts.notify import recipients_for, send_test_notification
from llm.alerts.rules import DEFAULT_RULES, create_default_rules, describe
from llm.alerts.state import RuleResult, acknowledge_alert, run_checks

__all__ = [
    "DEFAULT_RULES",
    "RuleResult",
    "acknowledge_alert",
    "backtest_rule",
    "create_default_rules",
    "describe",
    "recipients_for",
    "run_checks",
    "send_test_notification",
]

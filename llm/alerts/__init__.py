"""Alert rules: reading a metric, the ok/firing state machine, notifications and the backtest."""

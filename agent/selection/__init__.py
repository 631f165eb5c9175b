"""Which frames to keep: trigger rules over named signals, budgets, dedup, context windows."""

"""Model packages shipped with the agent; ``baseline/`` is the default (see agent.perception)."""

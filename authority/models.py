"""The authority funnel's models (arrives with the authority issue)."""

"""The authority funnel's admin (arrives with the authority issue)."""

"""The authority funnel's selectors (arrives with the authority issue)."""

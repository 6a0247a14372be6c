"""The authority funnel's rules (arrives with the authority issue)."""

"""The authority funnel's services (arrives with the authority issue)."""

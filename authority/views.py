"""The authority funnel's views (arrives with the authority issue)."""
